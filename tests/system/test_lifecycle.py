"""The whole daemon as a subprocess on paper: it trades, serves metrics, and stops flat."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import BUY_ONCE, CRASH_AFTER_FILL, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.wait import eventually

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.system


def has_position(rec: dict[str, Any]) -> bool:
    return rec.get("event") == "order.filled" and Decimal(rec["position"]) != 0


def assert_flat_shutdown(d: DaemonProcess, code: int, expected_code: int = 0) -> dict[str, Any]:
    last = d.last_record
    assert last["event"] == "shutdown.complete", d.raw_lines[-5:]
    assert last["flat"] is True
    assert all(Decimal(q) == 0 for q in last["positions"].values())
    assert last["working_orders"] == []
    assert code == expected_code == last["exit_code"]
    return last


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_open_position_exits_flat(tmp_path: Path, daemons: Callable[..., DaemonProcess],
                                              sig: signal.Signals) -> None:
    """Steps: start on paper with a buy-and-hold strategy; wait until the position is open;
    send the signal; the daemon sells it back, logs shutdown.complete flat, exits 0."""
    d = daemons(fast_config(tmp_path, BUY_ONCE))
    d.wait_for_match(30, has_position, "an open position")
    d.send(sig)
    code = d.wait_exit(30)
    assert_flat_shutdown(d, code)
    flatten = d.find("order.submitted", tag="flatten")
    assert flatten is not None and flatten["side"] == "sell" and flatten["qty"] == "0.01"
    state = json.loads((tmp_path / "state" / "final_state.json").read_text())
    assert state["flat"] is True and state["positions"] == {"BTC/USDT": "0"}


def test_crashing_task_flattens_and_exits_nonzero(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: a strategy raises once it holds a position; the signal task dies, the group
    cancels the rest, the flatten closes the position, and the exit code says a task crashed."""
    d = daemons(fast_config(tmp_path, CRASH_AFTER_FILL))
    code = d.wait_exit(60)
    crash = d.find("task.crashed")
    assert crash is not None and "crashing on purpose" in crash["error"]
    last = assert_flat_shutdown(d, code, expected_code=70)
    assert last["crashed"] is True and last["fills"] == 2


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def test_seed_strategy_trades_on_paper_with_metrics_and_json_logs(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: start the shipped AR(3) strategy on 1 s bars; wait for a paper fill; the metrics
    endpoint shows it; SIGTERM brings it down flat."""
    d = daemons(fast_config(tmp_path))
    started = d.wait_for("daemon.started", 30)
    fill = d.wait_for("order.filled", 45)
    assert fill["task"] == "fills" and fill["client_order_id"].startswith("td-")
    for key in ("ts", "level", "trade_id", "price", "fee"):
        assert key in fill
    text = metrics_text(started["metrics_port"])
    assert sample(text, "tradingd_fills_total") >= 1
    assert sample(text, 'tradingd_trading_state') == 0
    assert 'tradingd_position{instrument="BTC/USDT"}' in text
    books = eventually(lambda: books_add_up(metrics_text(started["metrics_port"])), 10,
                       what="the books on /metrics after the fill")
    assert books["fees"] > 0 and books["cash"] != STARTING_CASH
    d.send(signal.SIGTERM)
    last = assert_flat_shutdown(d, d.wait_exit(30))
    assert Decimal(last["equity"]) == Decimal(last["cash"]) == STARTING_CASH + Decimal(
        last["realized_pnl"]) - Decimal(last["fees"])  # flat: equity is cash


STARTING_CASH = Decimal(10000)  # [paper] starting_cash of the shipped config


def books_add_up(text: str) -> dict[str, float] | None:
    """The equity, cash, PnL and fee series of one exposition, if they are the books after a
    fill: cash = capital + realized - fees and equity = cash + unrealized (the gauges are set
    together; the fee counter moves at the fill, the gauges at the next health tick)."""
    books = {k: sample(text, f"tradingd_{k}") for k in (
        "equity", "cash", "realized_pnl", "unrealized_pnl", "fees_total")}
    books["fees"] = books.pop("fees_total")
    cash = float(STARTING_CASH) + books["realized_pnl"] - books["fees"]
    if books["fees"] == 0 or books["cash"] != pytest.approx(cash, abs=1e-6):
        return None
    assert books["equity"] == pytest.approx(books["cash"] + books["unrealized_pnl"], abs=1e-6)
    return books


def test_the_shipped_config_fills_on_paper_within_a_minute_and_stops_flat(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """What `make run` promises. Steps: config.toml exactly as shipped (the seed AR(3) model,
    the simulated market, the paper broker), but in a scratch directory and on a free metrics
    port; a paper fill within 60 s of `daemon.started`; SIGTERM; exit 0, flat."""
    shipped = (ROOT / "config.toml").read_text()
    assert 'listen = "127.0.0.1:9464"' in shipped and 'state_dir = "state"' in shipped
    path = tmp_path / "config.toml"  # state_dir resolves next to it: tmp_path/state
    path.write_text(shipped.replace('listen = "127.0.0.1:9464"', 'listen = "127.0.0.1:0"'))
    d = daemons(path)
    started = d.wait_for("daemon.started", 60)
    fill = d.wait_for("order.filled", 90)
    seconds = (_ts(fill["ts"]) - _ts(started["ts"]))
    assert seconds < 60, f"first paper fill {seconds:.1f}s after start"
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True
    assert (tmp_path / "state" / "final_state.json").exists()


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
