"""Parent orders from the operator: `tradingd ctl twap / pov / algos / cancel-algo` against a
running daemon on the simulated market, over real HTTP with real tokens."""

from __future__ import annotations

import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import CONTROL_TCP, CONTROL_UNIX, fast_config
from tests.support.http import TOKEN, TOKEN_ENV, control, metric
from tests.system.test_control import Daemons, clean_env, ctl

pytestmark = pytest.mark.system
IDLE = ("tests.support.algo_strategies:Idle", 'symbol = "BTC/USDT"')
BAD_AUTH = [None, "Bearer wrong-token-0123456789abcdef", f"Bearer {TOKEN}x"]


def _post_json(port: int, path: str, body: dict[str, Any], authorization: str | None
               ) -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_twap_without_the_token_is_401_and_starts_nothing(tmp_path: Path,
                                                          daemons: Daemons) -> None:
    """Steps: an idle strategy, control on loopback; `POST /algos/twap` (and pov, cancel) with
    no token or a wrong one answers 401; no parent exists and no order was sent. With the
    token, a malformed body is a 400 naming the field; an unknown symbol, a quantity that is
    huge, NaN or off the size grid, no slices or a negative duration are 409s naming theirs;
    none of them starts anything."""
    d = daemons(fast_config(tmp_path, IDLE, extra={"control": CONTROL_TCP}), env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    port = d.wait_for("control.listening", 5)["port"]
    twap = {"symbol": "BTC/USDT", "side": "buy", "qty": "0.01", "duration_s": 5, "slices": 2}
    for authorization in BAD_AUTH:
        for path, body in (("/algos/twap", twap), ("/algos/pov", {**twap, "rate": "0.1"}),
                           ("/algos/x/cancel", {})):
            assert _post_json(port, path, body, authorization) == (
                401, {"error": "unauthorized"}), (path, authorization)
        assert control(port, "GET", "/algos", authorization)[0] == 401
    assert control(port, "GET", "/algos") == (200, {"algos": []})
    code, body = _post_json(port, "/algos/twap", {**twap, "qty": "lots"}, f"Bearer {TOKEN}")
    assert code == 400 and "qty" in body["error"]
    code, body = _post_json(port, "/algos/twap", {**twap, "symbol": "DOGE/USDT"},
                            f"Bearer {TOKEN}")
    assert code == 409 and body["error"].startswith("symbol:")
    for bad, field in ((("qty", "1e40"), "qty"), (("qty", "NaN"), "qty"),
                       (("qty", "0.000001"), "qty"), (("slices", 0), "slices"),
                       (("duration_s", -1), "duration_s")):
        code, body = _post_json(port, "/algos/twap", {**twap, bad[0]: bad[1]},
                                f"Bearer {TOKEN}")
        assert code == 409 and body["error"].startswith(field + ":"), (bad, body)
    assert control(port, "GET", "/algos") == (200, {"algos": []})
    assert d.find("algo.started") is None and d.find("order.submitted") is None
    assert metric(metrics_port, 'tradingd_algo_child_orders_total{algo="twap"}') == 0
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0


def test_ctl_twap_runs_to_its_target_and_cancel_algo_ends_one(tmp_path: Path,
                                                              daemons: Daemons) -> None:
    """Steps: 1. `ctl twap` without a token exits 78 and starts nothing; 2. with it, buy 0.02
    in 4 slices over 4 s: 4 children pass the gate and fill, the parent ends complete, `ctl
    algos` shows it at progress 1 and the metrics count it; 3. a second TWAP over 10 minutes
    sends its first slice, then `ctl cancel-algo` ends it (cancelled) and nothing more goes
    out; 4. `ctl pov` starts a POV (0.1% of volume: far from done), and `ctl flatten` ends it
    first (incomplete, counted); 5. SIGTERM: the daemon flattens and exits 0."""
    config = fast_config(tmp_path, IDLE, extra={"control": CONTROL_UNIX})
    d = daemons(config, env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    d.wait_for("control.listening", 5)
    args = ("--symbol", "BTC/USDT", "--side", "buy", "--qty", "0.02", "--over", "4s",
            "--slices", "4")
    no_token = ctl(config, "twap", clean_env(), *args)
    assert no_token.returncode == 78 and d.find("algo.started") is None
    env = clean_env(**TOKEN_ENV)
    started = _retry_until_priced(config, env, args)
    pid = started["id"]
    assert started["state"] == "active" and started["target"] == "0.02"
    ended = d.wait_for("algo.ended", 30, parent_id=pid)
    assert ended["outcome"] == "complete" and Decimal(ended["filled"]) == Decimal("0.02")
    (listed,) = json.loads(ctl(config, "algos", env).stdout)["algos"]
    assert listed["id"] == pid and listed["progress"] == 1.0 and listed["children"] == 4
    assert metric(metrics_port, 'tradingd_algo_parents_ended_total{algo="twap",'
                  'outcome="complete"}') == 1
    assert metric(metrics_port, 'tradingd_algo_child_orders_total{algo="twap"}') == 4

    slow = json.loads(ctl(config, "twap", env, "--symbol", "BTC/USDT", "--side", "sell",
                          "--qty", "0.02", "--over", "10m", "--slices", "100").stdout)
    d.wait_for("algo.child", 30, parent_id=slow["id"])
    cancelled = ctl(config, "cancel-algo", env, slow["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout) == {"id": slow["id"], "state": "cancelled"}
    assert ctl(config, "cancel-algo", env, slow["id"]).returncode == 1  # 404: not working
    states = {a["id"]: a["state"] for a in json.loads(ctl(config, "algos", env).stdout)["algos"]}
    assert states == {pid: "complete", slow["id"]: "cancelled"}

    pov = json.loads(ctl(config, "pov", env, "--symbol", "BTC/USDT", "--side", "sell",
                         "--qty", "0.05", "--rate", "0.001", "--over", "10m").stdout)
    assert pov["algo"] == "pov" and pov["state"] == "active"
    assert json.loads(ctl(config, "flatten", env).stdout)["flatten"] == "requested"
    ended = d.wait_for("algo.ended", 30, parent_id=pov["id"])
    assert (ended["outcome"], ended["reason"]) == ("incomplete", "flatten:control_api")
    assert metric(metrics_port, 'tradingd_algo_parents_ended_total{algo="pov",'
                  'outcome="incomplete"}') == 1
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0
    children = [r for r in d.records if r.get("event") == "algo.child"
                and r.get("parent_id") == slow["id"]]
    assert len(children) == 1


def _retry_until_priced(config: Path, env: dict[str, str], args: tuple[str, ...]
                        ) -> dict[str, Any]:
    """`ctl twap` until the daemon has a price to measure the shortfall from (its first
    batch); a refusal for another reason fails the test."""
    from tests.support.wait import eventually

    out: dict[str, Any] = {}

    def started() -> bool:
        proc = ctl(config, "twap", env, *args)
        body = json.loads(proc.stdout)
        if proc.returncode == 0:
            out.update(body)
            return True
        assert "no price" in body.get("error", ""), body
        return False

    eventually(started, 30, interval_s=0.5, what="a TWAP started")
    return out
