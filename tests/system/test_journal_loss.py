"""The journal lost while the daemon runs: deleted, or no longer taking writes. The daemon must
halt (latched), flatten and keep reporting, never trade on without a durable record."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon.journal.watch import CHECK_INTERVAL_S
from tests.support.configs import BUY_ONCE, CONTROL_TCP, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import TOKEN_ENV, control, metric

pytestmark = pytest.mark.system
Daemons = Callable[..., DaemonProcess]
SLACK_S = 0.5  # scheduling on a shared 2-core machine, not part of the daemon's bound


def has_position(rec: dict[str, Any]) -> bool:
    return rec.get("event") == "order.filled" and Decimal(rec["position"]) != 0


def ts_s(rec: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(rec["ts"]).timestamp()


def halted_flat_and_reporting(d: DaemonProcess, tmp_path: Path, metrics_port: int,
                              control_port: int) -> None:
    """Halted by the journal (latched on disk), flattened, still up; resume refused."""
    halted = d.wait_for("trading.halted", 10, breaker="journal")
    assert halted["source"] == "journal_watch"
    latch = json.loads((tmp_path / "state" / "risk_state.json").read_text())
    assert latch["halted"] is True and latch["halt_reason"] == "journal"
    d.wait_for("flatten.done", 20)
    index = d.records.index(halted)
    d.wait_for_match(10, lambda r: r.get("event") == "heartbeat" and r["state"] == "halted"
                     and d.records.index(r) > index, "a heartbeat after the halt")
    assert metric(metrics_port, "tradingd_journal_lost") == 1
    assert metric(metrics_port, "tradingd_trading_state") == 2
    code, body = control(control_port, "POST", "/resume")
    assert code == 409 and "restart the daemon" in body["error"]
    assert control(control_port, "GET", "/status")[1]["positions"][0]["qty"] == "0"


def test_a_deleted_journal_halts_within_one_check_interval_and_flattens(
        tmp_path: Path, daemons: Daemons) -> None:
    """Steps: buy and hold on paper; delete state/journal.sqlite3* while it runs. Within one
    check interval the daemon logs journal.lost, halts through the supervisor (latched in
    risk_state.json), flattens, exports tradingd_journal_lost 1 and keeps reporting; a resume
    is refused (409). SIGTERM: exit 0, flat."""
    d = daemons(fast_config(tmp_path, BUY_ONCE, extra={"control": CONTROL_TCP}), env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    control_port = d.wait_for("control.listening", 5)["port"]
    d.wait_for_match(30, has_position, "an open position")
    deleted_at = time.time()
    for path in (tmp_path / "state").glob("journal.sqlite3*"):
        path.unlink()
    lost = d.wait_for("journal.lost", 10)
    took_s = ts_s(lost) - deleted_at
    print(f"\njournal deleted -> journal.lost in {took_s:.3f}s (check interval "
          f"{CHECK_INTERVAL_S:g}s)")
    assert lost["reason"] == "deleted" and took_s <= CHECK_INTERVAL_S + SLACK_S
    halted_flat_and_reporting(d, tmp_path, metrics_port, control_port)
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.why()
    done = d.find("shutdown.complete")
    assert done is not None and done["flat"] is True and done["halt_latched"] is True


def test_a_journal_that_stops_taking_writes_halts_and_the_flatten_still_closes(
        tmp_path: Path, daemons: Daemons) -> None:
    """Steps: buy and hold on paper; lower the daemon's file-size limit (prlimit) to the
    journal's -wal as it is, so the next write that grows it fails as on a full disk. That
    write (the supervisor's routine save of the risk state) is a journal.lost
    (write_failed): the daemon halts, latched in risk_state.json; the flatten's close cannot
    be journaled and goes out all the same (order.sent_unrecorded), its fill is booked; the
    daemon keeps reporting. SIGTERM: exit 0, flat."""
    d = daemons(fast_config(tmp_path, BUY_ONCE, extra={"control": CONTROL_TCP}), env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    control_port = d.wait_for("control.listening", 5)["port"]
    d.wait_for_match(30, has_position, "an open position")
    wal = tmp_path / "state" / "journal.sqlite3-wal"
    limit = wal.stat().st_size
    subprocess.run(["prlimit", "--pid", str(d.proc.pid), f"--fsize={limit}:{limit}"],
                   check=True, timeout=10)
    lost = d.wait_for("journal.lost", 30)
    assert lost["reason"] == "write_failed"
    halted_flat_and_reporting(d, tmp_path, metrics_port, control_port)
    close = d.find("order.sent_unrecorded")
    assert close is not None and d.find("order.filled", client_order_id=close[
        "client_order_ids"][0]) is not None
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.why()
    done = d.find("shutdown.complete")  # the journal's copy of the latch fails after it
    assert done is not None and done["flat"] is True
