"""The fake outside the test's loop: in a thread, as a subprocess, driven by /__control/."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.fake_exchange import FakeBinance, FakeBinanceThread, eventually_sync

REPO = Path(__file__).resolve().parents[2]
SYM = "BTC/USDT"


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str,
                                                                                             str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null"), dict(resp.headers)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"null"), dict(err.headers)


async def place_and_leave(cfg: dict[str, Any]) -> str:
    """A client that places a resting order and goes away."""
    ex = ccxt_async.binance(cfg)
    try:
        order = await ex.create_order(SYM, "limit", "buy", 0.02, 60000,
                                      {"clientOrderId": "away-1"})
        return str(order["id"])
    finally:
        await ex.close()


async def reconcile(cfg: dict[str, Any]) -> dict[str, Any]:
    """A restarted client looking its order up by the id it chose."""
    ex = ccxt_async.binance(cfg)
    try:
        return await ex.fetch_order(None, SYM, {"origClientOrderId": "away-1"})
    finally:
        await ex.close()


def test_thread_runner_with_control_endpoints() -> None:
    with FakeBinanceThread(seed=5) as fake:
        ctl = f"{fake.http_base}/__control"
        cfg = {**fake.ccxt_config(), "apiKey": fake.api_key, "secret": fake.api_secret,
               "enableRateLimit": False}
        order_id = asyncio.run(place_and_leave(cfg))
        # while the client is away: the operator fills half, then the rest, at the limit
        status, fill, _ = http("POST", f"{ctl}/orders/fill",
                               {"symbol": "BTCUSDT", "clientOrderId": "away-1", "qty": "0.01"})
        assert status == 200 and fill["qty"] == "0.01000000" and fill["isMaker"] is True
        http("POST", f"{ctl}/orders/fill", {"symbol": "BTCUSDT", "orderId": int(order_id)})
        found = asyncio.run(reconcile(cfg))
        assert (found["id"], found["status"], found["filled"]) == (order_id, "closed", 0.02)
        assert http("GET", f"{ctl}/order_posts")[1] == {"away-1": 1}
        assert [t["orderId"] for t in http("GET", f"{ctl}/trades")[1]] == [int(order_id)] * 2
        assert http("GET", f"{ctl}/orders")[1][0]["status"] == "FILLED"
        # faults through HTTP: the next /api/v3/time is a 429 with Retry-After
        http("POST", f"{ctl}/faults/http", {"kind": "rate_limit", "path": "/api/v3/time",
                                            "retry_after": 3})
        status, body, headers = http("GET", f"{fake.http_base}/api/v3/time")
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "3")
        assert http("GET", f"{fake.http_base}/api/v3/time")[0] == 200
        # balances, market movement and the python API from this thread
        http("POST", f"{ctl}/balances", {"asset": "USDT", "free": "42"})
        assert http("GET", f"{ctl}/balances")[1]["USDT"] == {"free": "42", "locked": "0"}
        before = fake.call(lambda fx: fx.markets["BTCUSDT"].book.last_update_id)
        http("POST", f"{ctl}/step", {"n": 3})
        assert fake.call(lambda fx: fx.markets["BTCUSDT"].book.last_update_id) > before
        assert http("POST", f"{ctl}/faults/drop_ws")[1] == {"dropped": 0}
        assert http("GET", f"{ctl}/unhandled")[1] == []
        assert http("POST", f"{ctl}/nope")[0] == 400


def test_thread_runner_can_be_used_from_its_python_api() -> None:
    fake = FakeBinanceThread(seed=5, replay=True).start()
    try:
        assert fake.call(lambda fx: fx.advance_trades(3)) == 3
        assert fake.call(lambda fx: len(fx.markets["BTCUSDT"].tape.trades)) == 3
        assert fake.call(FakeBinance.drop_websockets) == 0  # coroutines are awaited
    finally:
        fake.stop()


def test_python_dash_m_prints_its_bases_and_serves() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_exchange", "--port", "0", "--seed", "3"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        eventually_sync(lambda: lines, timeout_s=20, what="the ready line")
        info = json.loads(lines[0])
        assert info["http_base"].startswith("http://127.0.0.1:")
        assert info["ccxt_config"]["urls"]["api"]["public"] == info["http_base"] + "/api/v3"
        status, server_info, _ = http("GET", info["http_base"] + "/__control/info")
        assert status == 200 and server_info == info
        status, ex_info, _ = http("GET", info["http_base"] + "/api/v3/exchangeInfo")
        assert [s["symbol"] for s in ex_info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("argv", [["--replay"], ["--tick-interval", "0.01"]])
def test_cli_arguments(argv: list[str]) -> None:
    from tests.fake_exchange.__main__ import parse_args

    args = parse_args(argv)
    assert args.replay is True or args.tick_interval == 0.01
