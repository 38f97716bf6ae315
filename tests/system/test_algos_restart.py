"""A TWAP across a SIGKILL on the live path: the daemon against the fake exchange (unmodified
ccxt over HTTP and websockets), killed mid-way through an operator's parent order, restarted.
The restart resumes with what is left and the parent never overshoots: checked against the
journal and against the exchange's own record of our orders."""

from __future__ import annotations

import json
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.http import TOKEN_ENV
from tests.support.venue import our_orders
from tests.support.wait import eventually
from tests.system.test_control import clean_env, ctl

pytestmark = pytest.mark.system
IDLE = ("tests.support.algo_strategies:Idle", 'symbol = "BTC/USDT"')
QTY = Decimal("0.01")


def _parent_rows(state_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT parent_id, state, reason FROM parents").fetchall()
    finally:
        db.close()


def _journal_children(state_dir: Path, pid: str) -> dict[str, Decimal]:
    """client id -> quantity filled, per the journal's fills, of the parent's children."""
    db = sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        coids = [r[0] for r in db.execute("SELECT client_order_id FROM orders WHERE tag = ?",
                                          (f"algo:{pid}",))]
        out = {}
        for coid in coids:
            qtys = db.execute("SELECT qty FROM fills WHERE client_order_id = ?", (coid,))
            out[coid] = sum((Decimal(q) for (q,) in qtys), Decimal(0))
        return out
    finally:
        db.close()


@pytest.mark.parametrize("resume", [True, False])
def test_sigkill_mid_twap_resumes_with_the_remainder_never_overshooting(
        tmp_path: Path, resume: bool) -> None:
    """Steps: 1. live on the fake exchange, an idle strategy, control on a unix socket;
    2. `ctl twap` buys 0.01 in 10 slices over 20 s; 3. after the third child filled, SIGKILL;
    4. restart: reconciliation, then the parent resumes counting the children's fills from
    the journal (`algo.resumed`), and ends complete; with `resume_algos = false` it is
    cancelled at the restart and nothing more is sent; 5. SIGTERM. The journal's fills of the
    children and the exchange's executed quantity of those same orders agree, and equal the
    target (resumed) or what was bought before the kill (not resumed): never more."""
    state = tmp_path / "state"
    with FakeBinanceThread(seed=5, tick_interval=0.05) as fx:
        cfg = exchange_config(tmp_path, fx.ccxt_config(), strategy=IDLE, flatten_timeout_s=20,
                              sections={"control": 'enabled = true\nunix = "control.sock"',
                                        "execution": f"resume_algos = {str(resume).lower()}"})
        env = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret,
               **TOKEN_ENV}
        ctl_env = clean_env(**TOKEN_ENV)
        d = DaemonProcess(cfg, env=env)
        try:
            d.wait_for("reconcile.complete", 30)
            started = eventually(lambda: _start(cfg, ctl_env), 30, interval_s=0.5,
                                 what="a TWAP started")
            pid = started["id"]
            eventually(lambda: _filled_children(d) >= 3, 30, what="three children filled")
            d.kill()
        finally:
            d.kill()
        before = sum(_journal_children(state, pid).values())
        assert Decimal("0.003") <= before < QTY
        assert _parent_rows(state) == [(pid, "active", "")]

        d = DaemonProcess(cfg, env=env)
        try:
            d.wait_for("reconcile.complete", 30)
            if resume:
                resumed = d.wait_for("algo.resumed", 10, parent_id=pid)
                assert Decimal(resumed["filled"]) + Decimal(resumed["remaining"]) == QTY
                ended = d.wait_for("algo.ended", 40, parent_id=pid)
                assert ended["outcome"] == "complete", ended
            else:
                ended = d.wait_for("algo.ended", 10, parent_id=pid)
                assert ended["outcome"] == "cancelled", ended
            d.send(signal.SIGTERM)
            assert d.wait_exit(60) == 0, d.why()
        finally:
            d.kill()
        if not resume:
            assert d.find("algo.child") is None  # nothing more of it was sent
        children = _journal_children(state, pid)
        on_venue = {o["clientOrderId"]: Decimal(o["executedQty"]) for o in our_orders(fx)}
        assert {c: on_venue.get(c, Decimal(0)) for c in children} == children
        filled = sum(children.values())
        assert filled == (QTY if resume else before), (filled, children)
        assert _parent_rows(state) == [
            (pid, "complete", "target_filled") if resume else
            (pid, "cancelled", "restart (execution.resume_algos = false)")]


def _filled_children(d: DaemonProcess) -> int:
    d.find("")  # reads what the daemon logged so far
    return len([r for r in d.records if r.get("event") == "order.filled"])


def _start(cfg: Path, env: dict[str, str]) -> dict[str, Any] | None:
    proc = ctl(cfg, "twap", env, "--symbol", "BTC/USDT", "--side", "buy", "--qty", str(QTY),
               "--over", "20s", "--slices", "10")
    body: dict[str, Any] = json.loads(proc.stdout)
    if proc.returncode == 0:
        return body
    assert "no price" in body.get("error", ""), body
    return None
