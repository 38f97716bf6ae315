"""The first-version risk gate: each check approves what it should and denies with a reason."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from daemon.config import RiskConfig, TradingState
from daemon.inventory import InventoryManager
from daemon.model import Fill, Instrument, Order, OrderIntent, OrderType, Side
from daemon.risk import ApprovedOrder, Denied, DenyReason, RiskGate

BTC = Instrument("BTC/USDT", "BTC", "USDT", D("0.01"), D("0.001"), D("0.01"), D("5"), D(10))
SEC = 1_000_000_000


def setup(max_order: str = "1000", max_pos: str = "2000", per_s: int = 5,
          mark: float = 100.0) -> tuple[InventoryManager, RiskGate]:
    inv = InventoryManager([BTC], D(10_000))
    inv.mark("BTC/USDT", mark, 0)
    gate = RiskGate(RiskConfig(D(max_order), D(max_pos), per_s), inv.view, 0)
    return inv, gate


def buy(qty: str, **kw: object) -> OrderIntent:
    return OrderIntent("BTC/USDT", Side.BUY, D(qty), **kw)  # type: ignore[arg-type]


def sell(qty: str, **kw: object) -> OrderIntent:
    return OrderIntent("BTC/USDT", Side.SELL, D(qty), **kw)  # type: ignore[arg-type]


def reason(decision: ApprovedOrder | Denied) -> DenyReason | None:
    return decision.reason if isinstance(decision, Denied) else None


def test_a_normal_order_is_approved_with_quantity_on_the_grid() -> None:
    _, gate = setup()
    ok = gate.check(buy("1.2345"), "c1", 0)
    assert isinstance(ok, ApprovedOrder)
    assert ok.qty == D("1.234") and ok.client_order_id == "c1"


def test_only_the_gate_can_approve() -> None:
    with pytest.raises(TypeError):
        ApprovedOrder(object(), buy("1"), "c", D(1), None, 0)


@pytest.mark.parametrize(("intent", "expected"), [
    (buy("0"), DenyReason.QTY_NOT_POSITIVE),
    (buy("0.009"), DenyReason.QTY_BELOW_MIN),
    (buy("6"), DenyReason.QTY_ABOVE_MAX),
    (buy("0.05"), DenyReason.NOTIONAL_BELOW_MIN),
    (buy("10.01"), DenyReason.QTY_ABOVE_MAX),
    (OrderIntent("ETH/USDT", Side.BUY, D(1)), DenyReason.UNKNOWN_INSTRUMENT),
    (buy("1", order_type=OrderType.LIMIT), DenyReason.LIMIT_PRICE_MISSING),
])
def test_size_and_instrument_checks(intent: OrderIntent, expected: DenyReason) -> None:
    _, gate = setup()
    assert reason(gate.check(intent, "c", 0)) is expected


def test_max_order_notional_uses_the_limit_price_when_there_is_one() -> None:
    _, gate = setup(max_order="500")
    assert reason(gate.check(buy("5"), "c", 0)) is None  # 5 x 100 = 500: at the limit is fine
    assert reason(gate.check(buy("4.9", order_type=OrderType.LIMIT, limit_price=D(104)),
                             "c", SEC)) is DenyReason.MAX_ORDER_NOTIONAL  # 4.9 x 104 = 509.6


def test_no_price_no_order() -> None:
    inv = InventoryManager([BTC], D(10_000))
    gate = RiskGate(RiskConfig(D(1000), D(1000)), inv.view, 0)
    assert reason(gate.check(buy("1"), "c", 0)) is DenyReason.NO_MARKET_DATA


def test_position_limit_counts_working_orders_in_the_same_direction() -> None:
    inv, gate = setup(max_order="1000", max_pos="1500")
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(5), D(100), D(0), 0))
    inv.open_order(Order("w", "BTC/USDT", Side.BUY, D(5), OrderType.MARKET, None, False, 0))
    # 5 held + 5 working + 4.9 more = 14.9 x 100 = 1490: allowed; one more lot is not.
    assert reason(gate.check(buy("4.9"), "a", 0)) is None
    inv.open_order(Order("w2", "BTC/USDT", Side.BUY, D(5), OrderType.MARKET, None, False, 0))
    assert reason(gate.check(buy("0.1"), "b", SEC)) is DenyReason.MAX_POSITION_NOTIONAL
    # Selling reduces exposure, so it is not limited by the long side.
    assert reason(gate.check(sell("5"), "c", 2 * SEC)) is None


def test_throttle_denies_the_excess_and_refills_with_time() -> None:
    _, gate = setup(per_s=3)
    results = [reason(gate.check(buy("1"), f"c{n}", 0)) for n in range(5)]
    assert results == [None, None, None, DenyReason.THROTTLE_PER_SECOND,
                       DenyReason.THROTTLE_PER_SECOND]
    assert reason(gate.check(buy("1"), "late", SEC // 3 + 1)) is None
    assert reason(gate.check(buy("1"), "later", SEC // 3 + 2)) is DenyReason.THROTTLE_PER_SECOND


def test_reducing_allows_only_shrinking_without_a_flip() -> None:
    inv, gate = setup()
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(2), D(100), D(0), 0))
    gate.set_state(TradingState.REDUCING)
    assert reason(gate.check(buy("1"), "a", 0)) is DenyReason.REDUCING
    assert reason(gate.check(sell("3"), "b", 0)) is DenyReason.REDUCING
    assert reason(gate.check(sell("2"), "c", 0)) is None


def test_reduce_only_intent_that_would_flip_is_denied_even_when_active() -> None:
    inv, gate = setup()
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    assert reason(gate.check(sell("2", reduce_only=True), "a", 0)) is (
        DenyReason.REDUCE_ONLY_WOULD_INCREASE)


def test_halted_allows_only_the_flatten_of_a_position() -> None:
    inv, gate = setup()
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    gate.set_state(TradingState.HALTED)
    assert reason(gate.check(sell("1"), "a", 0)) is DenyReason.HALTED
    assert reason(gate.check(sell("1", reduce_only=True), "b", 0, flatten=True)) is None
    assert reason(gate.check(buy("1"), "c", SEC, flatten=True)) is DenyReason.HALTED
