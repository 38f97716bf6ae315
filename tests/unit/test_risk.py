"""The first-version risk gate: each check approves what it should and denies with a reason."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.model import (
    Fill,
    Instrument,
    MarketKind,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from daemon.risk.gate import ApprovedOrder, Denied, DenyReason, RiskGate
from tests.support.instruments import instrument

BTC = instrument(min_qty="0.01", max_qty="5", min_notional="10")
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


# --- the checks of the risk issue, one by one -------------------------------------------------

ETH = instrument("ETH/USDT", lot="0.01", min_qty="0.01")
BTC_BIG = instrument(min_qty="0.01", min_notional="10")


def gate_with(inv: InventoryManager, **limits: object) -> RiskGate:
    base: dict[str, object] = {"max_order_notional": D(1000), "max_position_notional": D(2000)}
    return RiskGate(RiskConfig(**{**base, **limits}), inv.view, 0)  # type: ignore[arg-type]


def two_instruments(cash: str = "10000") -> InventoryManager:
    inv = InventoryManager([BTC_BIG, ETH], D(cash))
    inv.mark("BTC/USDT", 100.0, 0)
    inv.mark("ETH/USDT", 10.0, 0)
    return inv


def test_price_collar_denies_a_fat_finger_limit_either_way() -> None:
    _, gate = setup()  # reference 100, collar 500 bps by default
    assert reason(gate.check(buy("1", order_type=OrderType.LIMIT, limit_price=D(105)),
                             "a", 0)) is None
    assert reason(gate.check(buy("1", order_type=OrderType.LIMIT, limit_price=D("105.01")),
                             "b", SEC)) is DenyReason.PRICE_COLLAR
    assert reason(gate.check(sell("1", order_type=OrderType.LIMIT, limit_price=D(10)),
                             "c", 2 * SEC)) is DenyReason.PRICE_COLLAR


def test_price_collar_judges_a_market_order_by_the_touch_it_would_take() -> None:
    inv, gate = setup()
    inv.quote("BTC/USDT", 99.9, 112.0)  # someone pulled the offers: the ask is 12% away
    assert reason(gate.check(buy("1"), "a", 0)) is DenyReason.PRICE_COLLAR
    assert reason(gate.check(sell("1"), "b", 0)) is None  # the bid is close


def test_market_order_notional_is_valued_at_the_worse_of_touch_and_reference() -> None:
    inv, gate = setup(max_order="500")
    inv.quote("BTC/USDT", 98.0, 102.0)
    assert reason(gate.check(sell("5"), "a", 0)) is None  # 5 x max(98, 100) = 500
    assert reason(gate.check(buy("5"), "b", SEC)) is DenyReason.MAX_ORDER_NOTIONAL  # 5 x 102


def test_stale_market_data_blocks_new_risk_but_not_a_close() -> None:
    inv = InventoryManager([BTC], D(10_000))
    inv.mark("BTC/USDT", 100.0, 0)
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(2), D(100), D(0), 0))
    gate = gate_with(inv, stale_data_s=5.0)
    assert reason(gate.check(buy("1"), "a", 5 * SEC)) is None  # exactly 5 s old: fresh
    late = 5 * SEC + 1
    assert reason(gate.check(buy("1.5"), "b", late)) is DenyReason.STALE_MARKET_DATA
    assert reason(gate.check(sell("3"), "c", late)) is DenyReason.STALE_MARKET_DATA  # flips
    assert reason(gate.check(sell("2"), "d", late)) is None  # closes: allowed


def test_gross_exposure_counts_every_instrument_and_their_working_orders() -> None:
    inv = two_instruments()
    gate = gate_with(inv, max_gross_exposure=D(1500))
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(8), D(100), D(0), 0))  # 800
    inv.open_order(Order("w", "ETH/USDT", Side.SELL, D(40), OrderType.MARKET, None, False, 0))
    # 800 BTC + 400 ETH working + 300 more = 1500: allowed; anything more is not.
    assert reason(gate.check(buy("3"), "a", 0)) is None
    assert reason(gate.check(buy("3.01"), "b", SEC)) is DenyReason.MAX_GROSS_EXPOSURE
    # Closing part of the BTC position is always allowed.
    assert reason(gate.check(sell("8"), "c", 2 * SEC)) is None


def test_gross_exposure_of_an_instrument_is_its_larger_direction_not_the_sum() -> None:
    inv = two_instruments()
    gate = gate_with(inv, max_gross_exposure=D(1000))
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(8), D(100), D(0), 0))  # long 800
    inv.open_order(Order("close", "BTC/USDT", Side.SELL, D(8), OrderType.MARKET, None, True, 0))
    # Close working; a flip to short 8 is 800 either way (both cannot fill into one position).
    assert reason(gate.check(sell("8"), "a", 0)) is None


def test_leverage_is_gross_exposure_over_equity() -> None:
    inv = two_instruments(cash="1000")
    gate = gate_with(inv, max_leverage=D("1.5"))
    assert reason(gate.check(buy("9"), "a", 0)) is None  # 900 on 1000
    inv.open_order(Order("w", "BTC/USDT", Side.BUY, D(9), OrderType.MARKET, None, False, 0))
    assert reason(gate.check(OrderIntent("ETH/USDT", Side.BUY, D(61)), "b", SEC)) is (
        DenyReason.MAX_LEVERAGE)  # 900 + 610 > 1500
    inv.apply_fill(Fill("w", "t1", "BTC/USDT", Side.BUY, D(9), D(100), D(600), 0))  # fees
    assert reason(gate.check(OrderIntent("ETH/USDT", Side.BUY, D(1)), "c", 2 * SEC)) is (
        DenyReason.MAX_LEVERAGE)  # equity 400: 910 > 600


def test_an_identical_intent_is_denied_while_the_first_still_works() -> None:
    inv, gate = setup()
    first = gate.check(buy("1", order_type=OrderType.LIMIT, limit_price=D(99)), "a", 0)
    assert isinstance(first, ApprovedOrder)
    inv.open_order(Order("a", "BTC/USDT", Side.BUY, first.qty, OrderType.LIMIT,
                         first.limit_price, False, 0))
    again = buy("1", order_type=OrderType.LIMIT, limit_price=D(99))
    assert reason(gate.check(again, "b", SEC)) is DenyReason.DUPLICATE_INTENT
    assert reason(gate.check(buy("1", order_type=OrderType.LIMIT, limit_price=D("98.99")),
                             "c", 2 * SEC)) is None  # a different price is a new intent
    inv.order_done("a", OrderState.CANCELLED)
    assert reason(gate.check(again, "d", 3 * SEC)) is None


def test_per_minute_throttle_holds_after_the_per_second_bucket_refills() -> None:
    _, gate = setup(per_s=5)
    gate.reconfigure(RiskConfig(D(1000), D(2000), 5, max_orders_per_minute=7,
                                stale_data_s=3600.0), 0)
    outcomes = [reason(gate.check(buy("0.1"), f"c{n}", n * SEC)) for n in range(9)]
    assert outcomes[:7] == [None] * 7
    assert outcomes[7:] == [DenyReason.THROTTLE_PER_MINUTE] * 2
    assert reason(gate.check(buy("0.1"), "late", 8 * SEC + 60 * SEC // 7)) is None


def test_a_reload_does_not_refill_the_throttle() -> None:
    _, gate = setup(per_s=2)
    assert [reason(gate.check(buy("1"), f"c{n}", 0)) for n in range(2)] == [None, None]
    gate.reconfigure(RiskConfig(D(1000), D(2000), 10), 0)
    assert reason(gate.check(buy("1"), "c3", 0)) is DenyReason.THROTTLE_PER_SECOND


def test_flatten_closes_are_never_throttled_but_count_against_the_rate() -> None:
    inv, gate = setup(per_s=1)
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(3), D(100), D(0), 0))
    assert reason(gate.check(buy("1"), "a", 0)) is None  # the only token
    close = sell("1", reduce_only=True)
    assert reason(gate.check(close, "b", 0, flatten=True)) is None  # no token: owed
    assert reason(gate.check(buy("1"), "c", SEC)) is DenyReason.THROTTLE_PER_SECOND  # repaid
    assert reason(gate.check(buy("1"), "d", 2 * SEC)) is None
    # A "flatten" that would add risk gets no exemption.
    assert reason(gate.check(buy("1"), "e", 2 * SEC, flatten=True)) is (
        DenyReason.THROTTLE_PER_SECOND)


@pytest.mark.parametrize(("intent", "expected"), [
    (buy("NaN"), DenyReason.QTY_INVALID),
    (buy("Infinity"), DenyReason.QTY_INVALID),
    (buy("1E+999999"), DenyReason.QTY_INVALID),
    (buy("1", order_type=OrderType.LIMIT, limit_price=D("NaN")), DenyReason.LIMIT_PRICE_INVALID),
    (buy("1", order_type=OrderType.LIMIT, limit_price=D(-5)), DenyReason.LIMIT_PRICE_INVALID),
    (buy("1", order_type=OrderType.LIMIT, limit_price=D("0.001")),
     DenyReason.LIMIT_PRICE_INVALID),  # rounds down to 0 on a 0.01 grid
])
def test_junk_numbers_are_denied_not_a_crash(intent: OrderIntent, expected: DenyReason) -> None:
    _, gate = setup()
    assert reason(gate.check(intent, "c", 0)) is expected


def test_max_order_qty_is_what_one_flatten_piece_may_be() -> None:
    inv, gate = setup(max_order="250")
    inv.quote("BTC/USDT", 99.0, 101.0)
    assert gate.max_order_qty("BTC/USDT", Side.SELL) == D("2.5")  # at the reference 100
    assert gate.max_order_qty("BTC/USDT", Side.BUY) == D("2.475")  # at the ask 101


def test_a_split_close_never_leaves_a_rest_too_small_to_close() -> None:
    _, gate = setup(max_order="250")  # 2.5 per order at 100; min notional 10: 0.1 (+10%)
    assert gate.close_piece("BTC/USDT", Side.SELL, D(2)) == D(2)
    assert gate.close_piece("BTC/USDT", Side.SELL, D(5)) == D("2.5")
    assert gate.close_piece("BTC/USDT", Side.SELL, D("2.55")) == D("2.44")  # leaves 0.11
    assert gate.close_piece("BTC/USDT", Side.SELL, D("2.61")) == D("2.5")  # leaves 0.11


SPOT_ETH = instrument("ETH/USDT", min_qty="0.01", max_qty="500", min_notional="10",
                      kind=MarketKind.SPOT)
SPOT_BTC = instrument(min_qty="0.01", max_qty="500", min_notional="10", kind=MarketKind.SPOT)


def spot_setup(*instruments: Instrument) -> tuple[InventoryManager, RiskGate]:
    """1,000 of equity, limits far above it (3x leverage): only spot's own rule can bind."""
    inv = InventoryManager(list(instruments), D(1000))
    for inst in instruments:
        inv.mark(inst.symbol, 100.0, 0)
    config = RiskConfig(D(100_000), D(100_000), 100, max_gross_exposure=D(100_000),
                        max_leverage=D(3), max_orders_per_minute=1000)
    return inv, RiskGate(config, inv.view, 0)


def test_spot_buys_stop_at_the_equity_whatever_the_leverage_limit() -> None:
    """Spot cannot borrow: 10 BTC at 100 is the whole 1,000; a tenth more would spend the
    operator's other balance, though 3x leverage would allow 3,000."""
    _, gate = spot_setup(SPOT_BTC)
    assert isinstance(gate.check(buy("10"), "c1", 0), ApprovedOrder)
    assert reason(gate.check(buy("10.01"), "c2", 0)) is DenyReason.SPOT_CAPITAL


def test_spot_capital_counts_working_buys_and_other_spot_holdings() -> None:
    inv, gate = spot_setup(SPOT_BTC, SPOT_ETH)
    inv.apply_fill(Fill("f", "t1", "ETH/USDT", Side.BUY, D(4), D(100), D(0), 0))  # 400 held
    inv.open_order(Order("w", "BTC/USDT", Side.BUY, D(2), OrderType.MARKET, None, False, 0))
    assert isinstance(gate.check(buy("4"), "c1", 0), ApprovedOrder)  # 400 + 200 + 400 = 1,000
    assert reason(gate.check(buy("4.01"), "c2", 0)) is DenyReason.SPOT_CAPITAL


def test_margin_instruments_keep_their_leverage() -> None:
    """The same 2,000 buy on 1,000 of equity that spot refuses is 2x on margin: allowed."""
    margin = instrument(min_qty="0.01", max_qty="500", min_notional="10")
    assert margin.kind is MarketKind.MARGIN
    _, spot_gate = spot_setup(SPOT_BTC)
    _, margin_gate = spot_setup(margin)
    assert reason(spot_gate.check(buy("20"), "c1", 0)) is DenyReason.SPOT_CAPITAL
    assert isinstance(margin_gate.check(buy("20"), "c2", 0), ApprovedOrder)


def test_a_venue_backoff_denies_every_order_until_it_ends() -> None:
    """After a 429/418 the venue would refuse anything: the gate denies instead of sending,
    the daemon's own closes included (the flatten re-sends them once the pause is over)."""
    inv, gate = setup()
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    gate.pause(3 * SEC)
    assert reason(gate.check(buy("1"), "c1", SEC)) is DenyReason.VENUE_BACKOFF
    assert reason(gate.check(sell("1", reduce_only=True), "c2", SEC, flatten=True)) is (
        DenyReason.VENUE_BACKOFF)
    gate.pause(2 * SEC)  # an earlier end never shortens a longer pause
    assert reason(gate.check(buy("1"), "c3", 2 * SEC + 1)) is DenyReason.VENUE_BACKOFF
    inv.mark("BTC/USDT", 100.0, 3 * SEC)
    assert isinstance(gate.check(buy("1"), "c4", 3 * SEC), ApprovedOrder)


@pytest.mark.parametrize(("state", "flatten", "close", "may"), [
    (TradingState.ACTIVE, False, False, True),
    (TradingState.REDUCING, False, False, False),  # approved as new risk, now reducing
    (TradingState.REDUCING, False, True, True),
    (TradingState.HALTED, False, True, False),  # only the daemon's own closes when halted
    (TradingState.HALTED, True, True, True),
])
def test_an_approved_order_goes_out_only_if_the_state_still_allows_it(
        state: TradingState, flatten: bool, close: bool, may: bool) -> None:
    inv, gate = setup()
    inv.apply_fill(Fill("f", "t1", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    intent = sell("1", reduce_only=True) if close else buy("1")
    approved = gate.check(intent, "c1", 0, flatten=flatten)
    assert isinstance(approved, ApprovedOrder)
    gate.set_state(state)
    assert gate.may_send(approved) is may


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY])
def test_a_time_in_force_needs_a_limit_order(tif: TimeInForce) -> None:
    _, gate = setup()
    assert reason(gate.check(buy("1", time_in_force=tif), "c1", 0)) is \
        DenyReason.TIME_IN_FORCE_INVALID
    limit = gate.check(buy("1", order_type=OrderType.LIMIT, limit_price=D(99),
                           time_in_force=tif), "c2", 0)
    assert isinstance(limit, ApprovedOrder) and limit.time_in_force is tif
    market = gate.check(buy("1"), "c3", 0)  # GTC, the default, is what a market order has
    assert isinstance(market, ApprovedOrder) and market.time_in_force is TimeInForce.GTC


# --- swaps: the estimated liquidation price must stay min_liquidation_distance_pct away -----

def swap_gate(leverage: int, isolated: bool, limit: str = "10",
              cash: str = "1000") -> tuple[InventoryManager, RiskGate]:
    inv = InventoryManager([BTC_BIG], D(cash))
    inv.mark("BTC/USDT", 100.0, 0)
    config = RiskConfig(D(100_000), D(100_000), 100, max_gross_exposure=D(100_000),
                        max_leverage=D(50), max_orders_per_minute=1000,
                        min_liquidation_distance_pct=D(limit))
    return inv, RiskGate(config, inv.view, 0, {"BTC/USDT": (leverage, isolated)})


def test_isolated_leverage_sets_the_liquidation_distance_at_the_boundary() -> None:
    """Isolated at 10x: a long liquidates (1 - 0.9/0.995) = 9.548% below the mark, a short
    (1.1/1.005 - 1) = 9.453% above: a 9.5% limit lets the long in and keeps the short out."""
    _, gate = swap_gate(10, True, limit="9.5")
    assert reason(gate.check(buy("1"), "a", 0)) is None
    _, gate = swap_gate(10, True, limit="9.5")
    denied = gate.check(sell("1"), "b", 0)
    assert reason(denied) is DenyReason.MIN_LIQUIDATION_DISTANCE
    assert isinstance(denied, Denied) and "9.45% from the mark" in denied.detail
    _, gate = swap_gate(9, True, limit="9.5")  # 9x: the short is 10.45% away
    assert reason(gate.check(sell("1"), "c", 0)) is None


def test_cross_margin_distance_is_equity_over_notional() -> None:
    """Cross on 1,000 of equity at 100: a long of q liquidates at (100 q - 1000) / (0.995 q);
    10% away needs q <= 1000 / (100 - 89.55) = 95.69..., so 95 passes and 96 is denied."""
    _, gate = swap_gate(20, False)
    assert reason(gate.check(buy("95"), "a", 0)) is None
    _, gate = swap_gate(20, False)
    assert reason(gate.check(buy("96"), "b", 0)) is DenyReason.MIN_LIQUIDATION_DISTANCE


def test_closing_a_swap_is_never_held_by_the_liquidation_check() -> None:
    inv, gate = swap_gate(50, True)  # 50x isolated: every new risk is 1.5% from liquidation
    assert reason(gate.check(buy("1"), "a", 0)) is DenyReason.MIN_LIQUIDATION_DISTANCE
    inv.apply_fill(Fill("x", "t1", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    assert reason(gate.check(sell("1", reduce_only=True), "b", 0)) is None
    _, gate = swap_gate(50, True, limit="0")  # 0 turns the check off
    assert reason(gate.check(buy("1"), "c", 0)) is None
