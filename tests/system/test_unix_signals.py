"""SIGHUP reloads [risk] (or keeps the old limits, saying why); a second stop signal during the
flatten is logged and does not cut it short; the flatten deadline always ends it; a stop before
the daemon's handlers are installed exits cleanly, with a log line."""

from __future__ import annotations

import datetime
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.configs import BUY_ONCE, PULSE, fast_config, replace_section, risk
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.http import metric
from tests.support.wait import eventually

pytestmark = pytest.mark.system
Daemons = Callable[..., DaemonProcess]
MAX_ORDER = 'tradingd_risk_limit{limit="max_order_notional"}'


def has_position(rec: dict[str, Any]) -> bool:
    return rec.get("event") == "order.filled" and Decimal(rec["position"]) != 0


def after(d: DaemonProcess, marker: dict[str, Any], event: str, **fields: Any
          ) -> dict[str, Any]:
    """Wait for `event` logged after the record `marker`."""
    start = d.records.index(marker)
    return d.wait_for_match(
        20, lambda r: r.get("event") == event and d.records.index(r) > start
        and all(r.get(k) == v for k, v in fields.items()), f"{event} {fields} after {marker}")


def test_sighup_applies_a_valid_risk_section_and_keeps_the_old_one_when_invalid(
        tmp_path: Path, daemons: Daemons) -> None:
    """Steps: a strategy sends an order (0.01 BTC, ~600 USDT) every second. Lower
    max_order_notional to 100 (and change a [paper] key) and SIGHUP: the reload logs the
    change, warns that [paper] needs a restart, the limit gauge shows 100 and the next orders
    are denied max_order_notional. Then write an invalid value and SIGHUP: rejected with the
    key's message, the gauge still 100. SIGTERM: the flatten splits the close into orders of
    at most 100 and the daemon exits flat."""
    config = fast_config(tmp_path, PULSE)
    d = daemons(config)
    port = d.wait_for("daemon.started", 30)["metrics_port"]
    d.wait_for("order.filled", 30)
    assert metric(port, MAX_ORDER) == 20000
    text = replace_section(config.read_text(), "risk", risk(max_order_notional='"100"'))
    config.write_text(text.replace("fee_bps = 7.5", "fee_bps = 5"))
    d.send(signal.SIGHUP)
    reloaded = d.wait_for("config.reloaded", 10)
    assert reloaded["changes"] == {"max_order_notional": ["20000", "100"]}
    assert d.wait_for("config.reload_ignored", 5)["sections"] == ["paper"]
    assert metric(port, MAX_ORDER) == 100
    after(d, reloaded, "order.denied", reason="max_order_notional")

    config.write_text(replace_section(config.read_text(), "risk",
                                      risk(max_order_notional='"-1"')))
    d.send(signal.SIGHUP)
    rejected = d.wait_for("config.reload_rejected", 10)
    assert rejected["error"] == "risk.max_order_notional: must be > 0"
    assert metric(port, MAX_ORDER) == 100
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0 and d.last_record["flat"] is True
    for rec in d.records:
        if rec.get("event") == "order.submitted" and rec["tag"] == "flatten":
            assert Decimal(rec["qty"]) * Decimal(rec["ref_price"]) <= 100


def ts_s(rec: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(rec["ts"]).timestamp()


def test_a_second_stop_signal_is_logged_and_the_flatten_deadline_wins(
        tmp_path: Path, daemons: Daemons) -> None:
    """Steps: open a position; reload a price collar so tight that no closing order can pass;
    SIGTERM starts the flatten; a second SIGTERM and a SIGINT are logged as repeats and change
    nothing; the flatten runs to its 3 s deadline and the daemon exits 1, not flat."""
    config = fast_config(tmp_path, BUY_ONCE, flatten_timeout_s=3)
    d = daemons(config)
    d.wait_for_match(30, has_position, "an open position")
    config.write_text(replace_section(config.read_text(), "risk",
                                      risk(price_collar_bps='"0.0001"')))
    d.send(signal.SIGHUP)
    d.wait_for("config.reloaded", 10)
    d.send(signal.SIGTERM)
    started = d.wait_for("flatten.started", 10, reason="shutdown")
    d.send(signal.SIGTERM)
    d.send(signal.SIGINT)
    d.wait_for_match(10, lambda r: sorted(x["signal"] for x in d.records
                                          if x.get("event") == "shutdown.signal_repeated")
                     == ["SIGINT", "SIGTERM"], "both repeated signals")
    code = d.wait_exit(30)
    last = d.last_record
    assert code == 1 and last["event"] == "shutdown.complete" and last["flat"] is False
    assert last["positions"] == {"BTC/USDT": "0.01"}
    repeats = [r["signal"] for r in d.records if r.get("event") == "shutdown.signal_repeated"]
    assert sorted(repeats) == ["SIGINT", "SIGTERM"]  # pending signals arrive by number
    assert ts_s(last) - ts_s(started) >= 3.0  # ran to the deadline, not cut short
    assert d.find("order.denied", reason="price_collar", tag="flatten") is not None


def catches(pid: int, sig: signal.Signals) -> bool:
    """The process has a handler for `sig` (its SigCgt mask in /proc says so)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


@pytest.mark.parametrize("phase", ["imports", "venue_connect"])
def test_sigterm_before_the_handlers_are_installed_exits_cleanly_with_a_log_line(
        tmp_path: Path, daemons: Daemons, phase: str) -> None:
    """Steps: start the daemon, and send SIGTERM as soon as the process catches it (the first
    thing it does, before its imports). `imports`: it is still importing (torch), seconds
    before its own handlers; `venue_connect`: the exchange's first answer never comes, so it
    is held in startup whatever the timing. Either way it exits 0 within seconds with one
    line, `shutdown.before_start`, naming the signal; it never started trading."""
    if phase == "imports":
        d = daemons(fast_config(tmp_path, BUY_ONCE))
        stall = None
    else:
        stall = FakeBinanceThread(seed=1).start()
        stall.call(lambda f: f.faults.delay("/api/v3/exchangeInfo", 60.0, n=10, method="GET"))
        d = daemons(exchange_config(tmp_path, stall.ccxt_config(), mode="paper"), env={})
    try:
        eventually(lambda: catches(d.proc.pid, signal.SIGTERM), 10, interval_s=0.005,
                   what="the stop handler installed")
        if stall is not None:
            eventually(lambda: stall.call(lambda f: "GET /api/v3/exchangeInfo" in f.requests),
                       30, what="the daemon waiting on the venue")
        d.send(signal.SIGTERM)
        assert d.wait_exit(15) == 0, d.why()
    finally:
        if stall is not None:
            stall.stop()
    line = d.find("shutdown.before_start")
    assert line is not None and line["signal"] == "SIGTERM", d.why()
    assert d.find("daemon.started") is None and d.find("order.submitted") is None
    assert d.stderr_tail() == ""
