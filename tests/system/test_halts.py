"""Halts on the running daemon: circuit breakers and the kill switch cancel, flatten and stay
up halted; the halt is latched on disk, survives a restart, and only the control API clears it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon.journal.store import Journal, journal_path
from tests.support.configs import BUY_ONCE, CONTROL_TCP, ROOT, fast_config, risk
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import TOKEN, TOKEN_ENV, control, metric, status_code
from tests.support.wait import eventually

pytestmark = pytest.mark.system
Daemons = Callable[..., DaemonProcess]


def has_position(rec: dict[str, Any]) -> bool:
    return rec.get("event") == "order.filled" and Decimal(rec["position"]) != 0


def flat_and_still_running(d: DaemonProcess, state: str) -> dict[str, Any]:
    """The in-run flatten finished, and a heartbeat after it shows the daemon still up."""
    done = d.wait_for("flatten.done", 20)
    index = d.records.index(done)
    d.wait_for_match(15, lambda r: r.get("event") == "heartbeat" and r["state"] == state
                     and d.records.index(r) > index, "a heartbeat after the flatten")
    closing = d.find("order.submitted", tag="flatten")
    assert closing is not None and closing["side"] == "sell" and closing["qty"] == "0.01"
    assert closing["task"] == "supervisor"  # inside the trading group, not the stop path
    return done


def latch(tmp_path: Path) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "state" / "risk_state.json").read_text()))


async def make_journal(state_dir: Path) -> None:
    journal = await Journal.open(journal_path(state_dir))
    await journal.close()


def stop_flat(d: DaemonProcess) -> dict[str, Any]:
    d.send(signal.SIGTERM)
    code = d.wait_exit(30)
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True and code == 0
    return last


@pytest.mark.parametrize(("breaker", "limit"), [
    ("drawdown", {"max_drawdown_pct": '"0.001"'}),  # the first fill's fee is 0.0045%
    ("daily_loss", {"max_daily_loss": '"0.01"'}),  # ... and 0.45 USDT
])
def test_breaker_trip_flattens_halts_and_stays_halted_across_a_restart(
        tmp_path: Path, daemons: Daemons, breaker: str, limit: dict[str, str]) -> None:
    """Steps: buy-and-hold on paper with a tiny limit; the first fill's fee trips the breaker;
    the daemon cancels and flattens inside the running group and stays up HALTED (logs,
    metrics, status). SIGTERM exits 0. A restart is still halted: its first order is denied
    `halted`. POST /resume without the token is 401 and changes nothing; with it, trading is
    active again and the latch on disk is cleared."""
    config = fast_config(tmp_path, BUY_ONCE, extra={"risk": risk(**limit),
                                                    "control": CONTROL_TCP})
    d = daemons(config, env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    tripped = d.wait_for("circuit_breaker.tripped", 30, breaker=breaker)
    d.wait_for("trading.halted", 10, breaker=breaker, source="circuit_breaker")
    assert tripped["task"] == "fills"  # evaluated on the fill itself
    flat_and_still_running(d, "halted")
    assert metric(metrics_port, "tradingd_trading_state") == 2
    assert metric(metrics_port, f'tradingd_circuit_breaker_trips_total{{breaker="{breaker}"}}'
                  ) == 1
    assert metric(metrics_port, 'tradingd_position{instrument="BTC/USDT"}') == 0
    assert status_code(f"http://127.0.0.1:{metrics_port}/readyz") == 503
    port = d.find("control.listening")["port"]  # type: ignore[index]
    code, status = control(port, "GET", "/status")
    assert code == 200 and status["state"] == "halted" and status["halt"]["reason"] == breaker
    assert stop_flat(d)["halt_latched"] is True
    assert latch(tmp_path)["halted"] is True and latch(tmp_path)["halt_reason"] == breaker

    again = daemons(config, env=TOKEN_ENV)
    assert again.wait_for("halt.latched", 30)["reason"] == breaker
    again.wait_for("order.denied", 30, reason="halted")  # the strategy's one buy
    port = again.wait_for("control.listening", 5)["port"]
    metrics_port = again.find("daemon.started")["metrics_port"]  # type: ignore[index]
    for authorization in (None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}"):
        assert control(port, "POST", "/resume", authorization)[0] == 401
    assert control(port, "GET", "/status")[1]["state"] == "halted"
    assert metric(metrics_port, "tradingd_trading_state") == 2
    code, body = control(port, "POST", "/resume")
    assert code == 200 and body == {"state": "active"}
    assert again.wait_for("trading.resumed", 5)["cleared_halt_reason"] == breaker
    eventually(lambda: metric(metrics_port, "tradingd_trading_state") == 0, 5,
               what="the state gauge to show active")
    assert latch(tmp_path)["halted"] is False
    assert stop_flat(again)["halt_latched"] is False


def test_sigusr1_kill_switch_halts_flattens_and_keeps_running(tmp_path: Path,
                                                              daemons: Daemons) -> None:
    """Steps: buy-and-hold on paper; once the position is open, SIGUSR1. The daemon halts at
    once, cancels and flattens while the trading tasks keep running, reports halted (metrics,
    /readyz 503, heartbeat), latches it on disk; SIGTERM then exits 0 flat."""
    d = daemons(fast_config(tmp_path, BUY_ONCE))
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    d.wait_for_match(30, has_position, "an open position")
    d.send(signal.SIGUSR1)
    halted = d.wait_for("trading.halted", 10)
    assert halted["source"] == "SIGUSR1" and halted["breaker"] == "kill_switch"
    assert d.wait_for("flatten.started", 5)["reason"] == "halt:kill_switch"
    flat_and_still_running(d, "halted")
    assert d.find("shutdown.requested") is None
    assert metric(metrics_port, "tradingd_trading_state") == 2
    assert metric(metrics_port, 'tradingd_circuit_breaker_trips_total{breaker="kill_switch"}'
                  ) == 1
    assert status_code(f"http://127.0.0.1:{metrics_port}/readyz") == 503
    assert latch(tmp_path)["halt_reason"] == "kill_switch"
    assert stop_flat(d)["state"] == "halted"


def test_a_corrupt_latch_refuses_to_start_instead_of_forgetting_the_halt(tmp_path: Path) -> None:
    config = fast_config(tmp_path, BUY_ONCE)
    asyncio.run(make_journal(tmp_path / "state"))  # an earlier run's: the latch is read next
    (tmp_path / "state" / "risk_state.json").write_text('{"halted": tru')
    proc = subprocess.run([sys.executable, "-m", "daemon", "run", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78 and proc.stdout == ""
    assert proc.stderr.startswith("tradingd: state error: ")
    assert "corrupt risk state" in proc.stderr and "risk_state.json" in proc.stderr


def test_a_deleted_latch_file_does_not_unlatch_the_halt(tmp_path: Path,
                                                        daemons: Daemons) -> None:
    """Steps: buy-and-hold on paper; SIGUSR1 halts and flattens; SIGTERM. risk_state.json is
    deleted. The restart is still halted (the journal kept the latch): `halt.latched` names
    the journal, the strategy's buy is denied `halted`, and the file is written again."""
    config = fast_config(tmp_path, BUY_ONCE)
    d = daemons(config)
    d.wait_for_match(30, has_position, "an open position")
    d.send(signal.SIGUSR1)
    d.wait_for("flatten.done", 20)
    assert stop_flat(d)["halt_latched"] is True
    (tmp_path / "state" / "risk_state.json").unlink()

    again = daemons(config)
    latched = again.wait_for("halt.latched", 30)
    assert latched["reason"] == "kill_switch"
    assert latched["latched_in"] == str(tmp_path / "state" / "journal.sqlite3")
    again.wait_for("order.denied", 30, reason="halted")
    assert latch(tmp_path)["halted"] is True and latch(tmp_path)["halt_reason"] == "kill_switch"
    assert stop_flat(again)["halt_latched"] is True


NO_TRADES = ("tests.support.strategies:RestingBuys", 'symbol = "BTC/USDT"\nqty = "0.1"\ncount = 0')


def test_a_restart_measures_the_days_loss_once_and_trips_only_beyond_the_limit(
        tmp_path: Path, daemons: Daemons) -> None:
    """Steps: on paper, buy 0.1 BTC and SIGTERM: the flatten sells it back; the day's loss L
    (fees and spread) is in risk_state.json. Restart (a strategy that never trades) with
    max_daily_loss just above L: /status shows today's PnL and the distance below the peak
    exactly as saved, nothing trips, and they are saved unchanged. Restart with the limit just
    below L: the daily-loss breaker trips at startup."""
    buy = (BUY_ONCE[0], 'symbol = "BTC/USDT"\nqty = "0.1"')
    first = daemons(fast_config(tmp_path, buy), env=TOKEN_ENV)
    first.wait_for_match(30, has_position, "an open position")
    stop_flat(first)
    saved = latch(tmp_path)
    loss, drawdown = -Decimal(saved["daily_pnl"]), Decimal(saved["drawdown"])
    assert loss > 0 and drawdown > 0 and saved["halted"] is False

    def restart(limit: Decimal) -> DaemonProcess:
        extra = {"risk": risk(max_daily_loss=f'"{limit}"'), "control": CONTROL_TCP}
        return daemons(fast_config(tmp_path, NO_TRADES, extra=extra), env=TOKEN_ENV)

    d = restart(loss * Decimal("1.02"))
    port = d.wait_for("control.listening", 30)["port"]
    d.wait_for("reconcile.complete", 30)
    d.wait_for("heartbeat", 15)  # trading has started: the supervisor has evaluated too
    code, status = control(port, "GET", "/status")
    assert code == 200 and status["state"] == "active"
    assert Decimal(status["daily_pnl"]) == -loss
    assert Decimal(status["equity_peak"]) - Decimal(status["equity"]) == drawdown
    assert d.find("circuit_breaker.tripped") is None
    stop_flat(d)
    assert (Decimal(latch(tmp_path)["daily_pnl"]), Decimal(latch(tmp_path)["drawdown"])) == (
        -loss, drawdown)

    d = restart(loss * Decimal("0.98"))
    tripped = d.wait_for("circuit_breaker.tripped", 30)
    assert tripped["breaker"] == "daily_loss"
    ready = d.wait_for("reconcile.complete", 30)
    assert d.records.index(tripped) < d.records.index(ready)  # before any trading
    d.wait_for("trading.halted", 10, breaker="daily_loss")
    stop_flat(d)
