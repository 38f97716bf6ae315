"""Booking broker events into the books and metrics: what the fills task does with each."""

from __future__ import annotations

from decimal import Decimal as D

from daemon.events import OrderFilled
from daemon.inventory import InventoryManager
from daemon.metrics import Metrics
from daemon.model import Fill, Instrument, Side
from daemon.tasks.fills import apply

BTC = Instrument("BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"), D(100), D(5))


def fill(fee: str, trade_id: str) -> OrderFilled:
    return OrderFilled(Fill("c1", trade_id, "BTC/USDT", Side.BUY, D("0.1"), D(100), D(fee), 0))


def test_a_maker_rebate_is_booked_and_counted_not_a_crash() -> None:
    """A negative fee (a maker rebate) raised from the fees counter and crashed the daemon:
    it is booked (cash rises by it) and counted as a rebate."""
    inv, metrics = InventoryManager([BTC], D(1000)), Metrics(["BTC/USDT"])
    apply(fill("0.02", "t1"), inv, metrics)
    apply(fill("-0.005", "t2"), inv, metrics)
    assert inv.fees == D("0.015") and inv.cash == D("999.985")
    sample = metrics.registry.get_sample_value
    assert sample("tradingd_fees_total") == 0.02
    assert sample("tradingd_fee_rebates_total") == 0.005
    assert sample("tradingd_fills_total") == 2
