"""A strategy that tries to over-trade in every way, through the whole daemon on paper."""

from __future__ import annotations

import datetime
import json
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import ETH_INSTRUMENT, fast_config, risk
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import metrics_text, sample
from tests.support.wait import eventually

pytestmark = pytest.mark.system

MAX_ORDER = Decimal(500)
MAX_POSITION = Decimal(1000)
MAX_GROSS = Decimal(1200)
COLLAR_BPS = Decimal(50)
PER_SECOND, PER_MINUTE = 5, 20
# Fills happen at the touch plus paper slippage, a few bps from the price the gate valued the
# order at, and prices move between one instrument's fill and the other's: 1% is ample for that
# and far below any real breach (the strategy asks for 100x the limits).
SLACK = Decimal("1.01")
OVER_TRADER = ("tests.support.risk_strategies:OverTrader",
               'symbols = ["BTC/USDT", "ETH/USDT"]\nintents_per_batch = 24')
MUST_BE_DENIED = {"huge", "fat_finger", "flip", "dust"}


def ts_s(rec: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(rec["ts"]).timestamp()


def denials(port: int, reason: str) -> float:
    return sample(metrics_text(port), f'tradingd_risk_denials_total{{reason="{reason}"}}')


def test_overtrading_strategy_gets_no_order_past_the_limits(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: two instruments, tight limits, a strategy sending ~500 intents a second (sizes
    far over the limits, fat-finger prices, duplicates, reduce-only flips, dust); run until the
    per-minute throttle has bitten; SIGTERM. Every order the daemon submitted is within the
    order, collar and rate limits, positions and gross exposure never passed theirs after any
    fill, every denial reason expected shows in the metrics, and the daemon exits flat."""
    config = fast_config(tmp_path, OVER_TRADER, extra={"risk": risk(
        max_order_notional=f'"{MAX_ORDER}"', max_position_notional=f'"{MAX_POSITION}"',
        max_gross_exposure=f'"{MAX_GROSS}"', max_leverage='"0.2"',
        price_collar_bps=str(COLLAR_BPS), max_orders_per_second=PER_SECOND,
        max_orders_per_minute=PER_MINUTE, max_rejections_per_minute=1000)})
    config.write_text(config.read_text() + ETH_INSTRUMENT)
    d = daemons(config)
    port = d.wait_for("daemon.started", 30)["metrics_port"]
    eventually(lambda: denials(port, "throttle_per_minute") > 0, 30,
               what="the per-minute throttle to bite")
    for reason in ("max_order_notional", "price_collar", "notional_below_min",
                   "reduce_only_would_increase", "duplicate_intent", "throttle_per_second",
                   "throttle_per_minute"):
        assert denials(port, reason) > 0, reason
    assert denials(port, "max_position_notional") + denials(port, "max_gross_exposure") > 0
    d.send(signal.SIGTERM)
    code = d.wait_exit(30)

    submitted = [r for r in d.records if r.get("event") == "order.submitted"]
    own = [r for r in submitted if r["tag"] != "flatten"]
    assert len(own) >= PER_MINUTE
    for rec in own:
        assert rec["tag"] not in MUST_BE_DENIED, rec
        qty, ref = Decimal(rec["qty"]), Decimal(rec["ref_price"])
        price = max(ref, Decimal(rec["limit_price"] or ref))
        assert qty * price <= MAX_ORDER, rec
        if rec["limit_price"] is not None:
            assert abs(Decimal(rec["limit_price"]) - ref) * 10_000 <= COLLAR_BPS * ref, rec
    # Token buckets: in any window, at most what a bucket holds plus what it refills.
    times = [ts_s(r) for r in own]
    for i in range(len(times)):
        for j in range(i, len(times)):
            span_s = times[j] - times[i]
            assert j - i + 1 <= PER_SECOND + PER_SECOND * (span_s + 0.05), (i, j)
            assert j - i + 1 <= PER_MINUTE + PER_MINUTE * (span_s + 0.05) / 60, (i, j)
    # Replay the fills: no position, and no sum of them, ever beyond its limit.
    positions: dict[str, Decimal] = {}
    prices: dict[str, Decimal] = {}
    for rec in d.records:
        if rec.get("event") == "order.filled":
            positions[rec["symbol"]] = Decimal(rec["position"])
            prices[rec["symbol"]] = Decimal(rec["price"])
            assert abs(positions[rec["symbol"]]) * prices[rec["symbol"]] <= MAX_POSITION * SLACK
            gross = sum(abs(q) * prices[s] for s, q in positions.items())
            assert gross <= MAX_GROSS * SLACK, (rec, positions)
    assert len(positions) == 2  # both instruments traded

    last = d.last_record
    stop = next(i for i, r in enumerate(d.records) if r.get("event") == "shutdown.requested")
    assert last["event"] == "shutdown.complete" and last["flat"] is True and code == 0, (
        d.raw_lines[stop:][:40])
    final = json.loads((tmp_path / "state" / "final_state.json").read_text())
    assert final["flat"] is True and final["working_orders"] == []
