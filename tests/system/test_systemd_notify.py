"""The daemon's side of systemd's Type=notify contract, read off a real $NOTIFY_SOCKET.

The daemon runs as a subprocess against the local fake exchange, whose market the test moves
(and stops). The log is the clock: a datagram sent before a log line is in the socket by the
time the test has read that line, so "no READY=1 yet" after a line is a fact, not a race.
"""

from __future__ import annotations

import datetime
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.configs import BUY_ONCE
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.market_driver import MarketDriver
from tests.support.notify import NotifyReceiver
from tests.support.wait import eventually

pytestmark = pytest.mark.system
WATCHDOG_USEC = 1_000_000  # a ping every 0.5 s: small, so silence is quick to see
HEALTH = "heartbeat_s = 1\nstale_data_s = 2"


@pytest.fixture
def venue() -> Iterator[tuple[FakeBinanceThread, MarketDriver]]:
    """The fake exchange with no ticker of its own: its market moves while the driver runs."""
    with FakeBinanceThread(seed=5) as fx, MarketDriver(fx) as driver:
        yield fx, driver


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifyReceiver]:
    with NotifyReceiver(tmp_path / "notify.sock") as receiver:
        yield receiver


def ts(rec: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(rec["ts"])


def index(d: DaemonProcess, event: str) -> int:
    d.find(event)
    return next(i for i, r in enumerate(d.records) if r.get("event") == event)


def arrives(notify: NotifyReceiver, key: str, after: int = 0, times: int = 1
            ) -> Callable[[], bool]:
    """A condition: `key` came `times` times among the assignments after the first `after`."""
    def check() -> bool:
        notify.drain()
        return notify.keys()[after:].count(key) >= times
    return check


def test_ready_only_after_reconciliation_then_reloading_and_stopping(
        tmp_path: Path, venue: tuple[FakeBinanceThread, MarketDriver],
        notify: NotifyReceiver, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: the venue fails the startup reconciliation's open-orders query three times
    (a real 503, retried); while it is retrying the daemon has sent nothing, not READY=1, not
    a watchdog ping; READY=1 follows `reconcile.complete`; SIGHUP brings RELOADING=1 then
    READY=1 around `config.reloaded`; SIGTERM brings STOPPING=1 and an EXTEND_TIMEOUT_USEC
    covering the flatten's deadline (flatten_timeout_s = 20: 35 s with the group's cutoff and
    the exit's slack) before the flatten's first order; nothing says READY=1 after
    STOPPING=1."""
    fx, _ = venue
    fx.call(lambda f: f.faults.server_error("/api/v3/openOrders", n=3, status=503))
    cfg = exchange_config(tmp_path, fx.ccxt_config(), strategy=BUY_ONCE,
                          sections={"health": HEALTH})
    d = daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret,
                          **notify.env(WATCHDOG_USEC)})

    d.wait_for("reconcile.retry", 30, attempt=2)
    assert notify.drain() == [], "sent before reconciliation succeeded"
    eventually(arrives(notify, "READY=1"), 30, what="READY=1")
    d.wait_for("systemd.ready", 5)
    assert index(d, "reconcile.retry") < index(d, "reconcile.complete") < index(
        d, "systemd.ready")
    keys = notify.keys()
    assert "WATCHDOG=1" not in keys[:keys.index("READY=1")]

    d.wait_for("order.filled", 30)  # a position for the stop to flatten
    reload_from = len(notify.keys())
    d.send(signal.SIGHUP)
    d.wait_for("config.reloaded", 10)
    eventually(arrives(notify, "READY=1", after=reload_from), 10, what="READY=1 after reload")
    reload_keys = [k for k in notify.keys()[reload_from:] if k in ("RELOADING=1", "READY=1")]
    assert reload_keys == ["RELOADING=1", "READY=1"], reload_keys

    d.send(signal.SIGTERM)
    d.wait_for("order.submitted", 20, tag="flatten")
    notify.drain()
    assert "STOPPING=1" in notify.keys(), "the flatten started before STOPPING=1"
    after_stop = notify.keys()[notify.keys().index("STOPPING=1"):]
    assert "EXTEND_TIMEOUT_USEC=35000000" in after_stop, after_stop
    assert d.wait_exit(40) == 0
    notify.drain()
    lifecycle = [k for k in notify.keys() if k in ("READY=1", "RELOADING=1", "STOPPING=1")]
    assert lifecycle == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], lifecycle


def test_watchdog_is_withheld_while_market_data_is_stale(
        tmp_path: Path, venue: tuple[FakeBinanceThread, MarketDriver],
        notify: NotifyReceiver, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: paper trading on the fake exchange's market data with a 1 s watchdog; pings
    come while trades print; the exchange stops printing trades; once the daemon logs
    `market_data.stale` no WATCHDOG=1 arrives for three seconds of heartbeats (six ping
    intervals; STATUS= lines do); trades print again, `market_data.fresh`, and the pings
    resume."""
    fx, driver = venue
    cfg = exchange_config(tmp_path, fx.ccxt_config(), mode="paper", strategy=BUY_ONCE,
                          sections={"health": HEALTH})
    d = daemons(cfg, env=notify.env(WATCHDOG_USEC))
    eventually(arrives(notify, "WATCHDOG=1", times=3), 40, what="pings while the data is fresh")

    driver.pause()
    stale = d.wait_for("market_data.stale", 20)
    notify.drain()  # sent before the daemon saw the data go stale
    d.wait_for_match(20, lambda r: r.get("event") == "heartbeat" and (
        ts(r) - ts(stale)).total_seconds() >= 3, "a heartbeat 3 s into the silence")
    assert d.find("market_data.fresh") is None
    drained = notify.drain()
    silent = notify.keys(drained)
    assert "WATCHDOG=1" not in silent and "STATUS=" in silent, silent
    statuses = [line for m in drained for line in m.splitlines() if line.startswith("STATUS=")]
    # 5 s and more into the silence the feed has fallen back (3 s of a quiet socket, 0.5 s
    # polls), and systemd's status line says where the data comes from now.
    assert statuses[-1].endswith("; data rest"), statuses

    resume_from = len(notify.keys())
    driver.resume()
    d.wait_for("market_data.fresh", 20)
    eventually(arrives(notify, "WATCHDOG=1", after=resume_from), 10, what="pings again")
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0
