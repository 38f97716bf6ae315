"""Property: whatever a strategy sends, the gate never approves an order that breaks a limit.

Random sequences of intents, marks (price, age, width of the book), fills of working orders,
cancels and rejections, clock steps and trading-state changes go through the real `RiskGate`
and the real `InventoryManager`; every approved order is recorded as working, as the router
does. Each approval is checked against every limit by a reference written from the README's
definitions (not by calling the gate's helpers); each denial must carry a `DenyReason` whose
condition really holds, where the reference can judge it. The throttle is checked over the
whole sequence: in any interval no bucket let through more than it holds plus its refill.

Runs GATE_PROPERTY_EXAMPLES examples (10,000 under `make test`; see tests/support/profiles.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.model import (
    Fill,
    MarketKind,
    Order,
    OrderIntent,
    OrderState,
    OrderType,
    Side,
    TradingState,
)
from daemon.risk.gate import ApprovedOrder, Denied, DenyReason, RiskGate
from tests.support.instruments import instrument
from tests.support.profiles import GATE_PROPERTY_EXAMPLES

SEC = 1_000_000_000
MIN = 60 * SEC
CASH = D(1000)
INSTRUMENTS = [
    instrument(min_qty="0.002", max_qty="5", min_notional="10"),
    # Spot: long-only, and buys only with the daemon's equity (a max size whose notional
    # exceeds the equity, so one order can reach the spot capital check).
    instrument("ETH/USDT", tick="0.1", lot="0.01", min_qty="0.01", max_qty="500",
               kind=MarketKind.SPOT),
    instrument("OLD/USDT", lot="1", min_qty="1", min_notional="1", trading=False),
]
START_PRICE = {"BTC/USDT": 100.0, "ETH/USDT": 20.0, "OLD/USDT": 5.0}
SYMBOLS = [*START_PRICE, "XRP/USDT"]  # the last one is not configured

# --- what a sequence is made of ---------------------------------------------------------------
# A step is one integer, decoded through weighted tables (weights by repetition). Hypothesis's
# own bookkeeping per draw dominates this test's cost, so one draw per step (instead of one per
# field) is what makes 10,000 examples affordable. Hypothesis favours small integers and shrinks
# toward 0, which decode to the front of each table: so each table starts with its most
# ordinary entries (a modest size, at the market, a fresh mark). `note()` prints the steps.

ODD_QTYS = [D(0), D(-1), D("NaN"), D("Infinity"), D("1E+30"), D("1E-30"), D("0.0005"),
            D("5.0009"), D("49.999")]
QTYS = [*sorted((D(n).scaleb(-3) for n in range(1, 3001)),  # 0.001 .. 3: near the limits
               key=lambda q: abs(q - D("0.5"))),
        *(D(n).scaleb(-2) for n in range(0, 6001, 7)),  # up to 60: above most limits
        *ODD_QTYS * 50]
# A limit's distance from the current price in bps; None: a limit order without a price.
LIMIT_BPS: list[int | None] = [*sorted(range(-60, 61), key=abs) * 2, *[None] * 20,
                               *range(-2000, 2001, 50), *[-10_000, -20_000, 1_000_000] * 5]
INTENT_SHAPES = list(itertools.product(
    [*SYMBOLS[:2] * 4, *SYMBOLS], list(Side), list(OrderType),
    [False] * 4 + [True],  # reduce_only
    [False] * 3 + [True]))  # flatten: the daemon's own closing order
MARKS = list(itertools.product(SYMBOLS[:3], sorted(range(-300, 301, 10), key=abs),  # move bps
                               [0] * 6 + [200, 900, 6000],  # age in ms
                               [0, 2, 60, 400]))  # width of the book in bps
FILLS = list(itertools.product(range(51), [1, 1, 3, 10],  # which order, 1/n of what is left
                               sorted(range(-50, 51, 5), key=abs)))  # price away, bps
DONES = list(itertools.product(range(51), [OrderState.CANCELLED, OrderState.REJECTED]))
STEPS_NS = [0, 0, 1_000_000, 100_000_000, 400 * 1_000_000, SEC, 3 * SEC, 61 * SEC]
STATES = [*[TradingState.ACTIVE] * 3, *TradingState]
KINDS = ["intent"] * 5 + ["mark"] * 2 + ["fill", "done", "step", "state"]


def pick(n: int, table: list[Any]) -> tuple[int, Any]:
    n, i = divmod(n, len(table))
    return n, table[i]


def decode(n: int) -> tuple[Any, ...]:
    n, kind = pick(n, KINDS)
    if kind == "intent":
        n, shape = pick(n, INTENT_SHAPES)
        n, qty = pick(n, QTYS)
        return kind, shape, qty, pick(n, LIMIT_BPS)[1]
    table = {"mark": MARKS, "fill": FILLS, "done": DONES, "step": STEPS_NS, "state": STATES}
    return kind, pick(n, table[kind])[1]


steps_strategy = st.lists(st.integers(0, 2**48 - 1).map(decode), min_size=6, max_size=60)

configs = st.builds(
    RiskConfig,
    max_order_notional=st.sampled_from([D(50), D(200), D(1000), D(5000)]),
    max_position_notional=st.sampled_from([D(100), D(500), D(2000)]),
    max_orders_per_second=st.sampled_from([1, 3, 10]),
    max_gross_exposure=st.sampled_from([D(150), D(150), D(800), D(3000)]),
    max_leverage=st.sampled_from([D("0.05"), D("0.5"), D(3), D(3), D(3)]),
    price_collar_bps=st.sampled_from([D(10), D(100), D(1000)]),
    max_orders_per_minute=st.sampled_from([5, 30, 600]),
    stale_data_s=st.sampled_from([1.0, 5.0]),
)


# --- the reference ----------------------------------------------------------------------------

@dataclass
class World:
    config: RiskConfig
    inv: InventoryManager = field(default_factory=lambda: InventoryManager(INSTRUMENTS, CASH))
    now_ns: int = 1_700_000_000 * SEC
    prices: dict[str, float] = field(default_factory=lambda: dict(START_PRICE))
    throttled_ns: list[int] = field(default_factory=list)  # approvals that needed tokens
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    gate: RiskGate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = RiskGate(self.config, self.inv.view, self.now_ns)
        for symbol in ("BTC/USDT", "ETH/USDT"):  # OLD/USDT starts without market data
            self.inv.mark(symbol, self.prices[symbol], self.now_ns)


def direction_exposure(inv: InventoryManager, symbol: str, add_side: Side | None = None,
                       add_qty: D = D(0)) -> tuple[D, D]:
    """(long, short) quantity if every working order on that side filled."""
    pos = inv.position(symbol)
    buys = sum((o.qty - o.filled_qty for o in inv.working_orders(symbol)
                if o.side is Side.BUY), D(0))
    sells = sum((o.qty - o.filled_qty for o in inv.working_orders(symbol)
                 if o.side is Side.SELL), D(0))
    if add_side is Side.BUY:
        buys += add_qty
    elif add_side is Side.SELL:
        sells += add_qty
    return max(D(0), pos + buys), max(D(0), sells - pos)


def working(inv: InventoryManager, symbol: str, side: Side) -> D:
    return sum((o.qty - o.filled_qty for o in inv.working_orders(symbol) if o.side is side), D(0))


def adds_risk(inv: InventoryManager, intent: OrderIntent) -> bool:
    pos = inv.position(intent.symbol)
    same = sum((o.qty - o.filled_qty for o in inv.working_orders(intent.symbol)
                if o.side is intent.side), D(0))
    return pos * intent.side.sign + same + intent.qty > 0


def order_price(w: World, intent: OrderIntent, limit: D | None, ref: D) -> D:
    if limit is not None:
        return limit
    touch = w.inv.touch(intent.symbol)
    if touch is None:
        return ref
    return touch[1] if intent.side is Side.BUY else touch[0]


def gross_after(w: World, intent: OrderIntent, qty: D, value_px: D) -> D:
    total = D(0)
    for inst in INSTRUMENTS:
        if inst.symbol == intent.symbol:
            long_q, short_q = direction_exposure(w.inv, inst.symbol, intent.side, qty)
            total += max(long_q, short_q) * value_px
        else:
            long_q, short_q = direction_exposure(w.inv, inst.symbol)
            if max(long_q, short_q):
                mark = w.inv.mark_price(inst.symbol)
                assert mark is not None, "exposure without a mark was approved around"
                total += max(long_q, short_q) * mark
    return total


def assert_approval_is_within_limits(w: World, intent: OrderIntent, flatten: bool,
                                     ok: ApprovedOrder) -> None:
    cfg, inv = w.config, w.inv
    inst = next(i for i in INSTRUMENTS if i.symbol == intent.symbol)
    assert inst.trading
    # size: on the grid, never more than asked, within the venue's bounds
    assert intent.qty.is_finite() and 0 < ok.qty <= intent.qty
    assert inst.on_size_grid(ok.qty) and inst.min_qty <= ok.qty <= inst.max_qty
    if intent.order_type is OrderType.LIMIT:
        assert ok.limit_price is not None and intent.limit_price is not None
        assert ok.limit_price > 0 and inst.on_price_grid(ok.limit_price)
        # rounding never makes a limit more aggressive than asked
        assert ok.limit_price * intent.side.sign <= intent.limit_price * intent.side.sign
    else:
        assert ok.limit_price is None
    ref = inv.mark_price(intent.symbol)
    assert ref is not None and ref == ok.ref_price
    px = order_price(w, intent, ok.limit_price, ref)
    # fat-finger collar
    assert abs(px - ref) * 10_000 <= cfg.price_collar_bps * ref
    # notional
    assert ok.qty * px >= inst.min_notional
    value_px = max(px, ref)
    assert ok.qty * value_px <= cfg.max_order_notional
    # trading state
    risky = adds_risk(inv, intent)
    if w_state(w) is TradingState.HALTED:
        assert flatten and not risky
    if w_state(w) is TradingState.REDUCING or intent.reduce_only:
        assert not risky
    if risky:
        ts = inv.mark_ts_ns(intent.symbol)
        assert ts is not None and w.now_ns - ts <= cfg.stale_data_s * SEC
        long_q, short_q = direction_exposure(inv, intent.symbol, intent.side, ok.qty)
        same = long_q if intent.side is Side.BUY else short_q
        assert same * value_px <= cfg.max_position_notional
        gross = gross_after(w, intent, ok.qty, value_px)
        assert gross <= cfg.max_gross_exposure
        equity = inv.equity()
        assert equity > 0 and gross <= cfg.max_leverage * equity
        if inst.kind is MarketKind.SPOT and intent.side is Side.BUY:
            assert same * value_px <= equity  # ETH is the one spot instrument
    if inst.kind is MarketKind.SPOT and intent.side is Side.SELL:
        assert intent.qty + working(inv, intent.symbol, Side.SELL) <= inv.position(intent.symbol)
    # duplicates
    for o in inv.working_orders(intent.symbol):
        assert not (o.side is intent.side and o.qty == ok.qty
                    and o.order_type is intent.order_type and o.limit_price == ok.limit_price
                    and o.reduce_only == intent.reduce_only)


def assert_denial_is_justified(w: World, intent: OrderIntent, flatten: bool,
                               denied: Denied) -> None:
    assert isinstance(denied.reason, DenyReason) and denied.detail
    r, inv, cfg = denied.reason, w.inv, w.config
    known = {i.symbol: i for i in INSTRUMENTS}
    if r is DenyReason.UNKNOWN_INSTRUMENT:
        assert intent.symbol not in known
        return
    inst = known[intent.symbol]
    if r is DenyReason.QTY_INVALID:
        assert not intent.qty.is_finite() or intent.qty >= D("1E+19")
        return
    if r is DenyReason.QTY_NOT_POSITIVE:
        assert intent.qty <= 0
        return
    risky = adds_risk(inv, intent)
    qty = inst.floor_qty(intent.qty)
    ref = inv.mark_price(intent.symbol)
    match r:
        case DenyReason.HALTED:
            assert w_state(w) is TradingState.HALTED
        case DenyReason.REDUCING:
            assert w_state(w) is TradingState.REDUCING and risky
        case DenyReason.REDUCE_ONLY_WOULD_INCREASE:
            assert intent.reduce_only and risky
        case DenyReason.INSTRUMENT_NOT_TRADING:
            assert not inst.trading
        case DenyReason.QTY_BELOW_MIN:
            assert qty < inst.min_qty or qty <= 0
        case DenyReason.QTY_ABOVE_MAX:
            assert qty > inst.max_qty
        case DenyReason.LIMIT_PRICE_MISSING:
            assert intent.order_type is OrderType.LIMIT and intent.limit_price is None
        case DenyReason.STALE_MARKET_DATA:
            ts = inv.mark_ts_ns(intent.symbol)
            assert risky and (ts is None or w.now_ns - ts > cfg.stale_data_s * SEC)
        case DenyReason.PRICE_COLLAR:
            assert ref is not None
            limit = (inst.limit_price(intent.limit_price, intent.side)
                     if intent.limit_price is not None else None)
            px = order_price(w, intent, limit, ref)
            assert abs(px - ref) * 10_000 > cfg.price_collar_bps * ref
        case DenyReason.MAX_ORDER_NOTIONAL | DenyReason.NOTIONAL_BELOW_MIN:
            assert ref is not None
            limit = (inst.limit_price(intent.limit_price, intent.side)
                     if intent.limit_price is not None else None)
            px = order_price(w, intent, limit, ref)
            if r is DenyReason.MAX_ORDER_NOTIONAL:
                assert qty * max(px, ref) > cfg.max_order_notional
            else:
                assert qty * px < inst.min_notional
        case DenyReason.MAX_POSITION_NOTIONAL | DenyReason.MAX_GROSS_EXPOSURE:
            assert risky
        case DenyReason.DUPLICATE_INTENT:
            limit = (inst.limit_price(intent.limit_price, intent.side)
                     if intent.limit_price is not None else None)
            assert any(o.side is intent.side and o.qty == qty and o.limit_price == limit
                       and o.order_type is intent.order_type
                       and o.reduce_only == intent.reduce_only
                       for o in inv.working_orders(intent.symbol))
        case DenyReason.SPOT_NO_SHORT:
            assert inst.kind is MarketKind.SPOT and intent.side is Side.SELL
            assert intent.qty + working(inv, intent.symbol, Side.SELL) > inv.position(
                intent.symbol)
        case DenyReason.SPOT_CAPITAL:
            assert inst.kind is MarketKind.SPOT and intent.side is Side.BUY and risky
            assert ref is not None
            limit = (inst.limit_price(intent.limit_price, intent.side)
                     if intent.limit_price is not None else None)
            long_q, _ = direction_exposure(inv, intent.symbol, Side.BUY, qty)
            assert long_q * max(order_price(w, intent, limit, ref), ref) > inv.equity()
        case DenyReason.THROTTLE_PER_SECOND | DenyReason.THROTTLE_PER_MINUTE:
            assert not (flatten and not risky)  # the daemon's closes are never throttled
        case _:
            pass  # NO_MARKET_DATA, LIMIT_PRICE_INVALID, MAX_LEVERAGE: judged by approvals


def w_state(w: World) -> TradingState:
    return w.gate.state


def assert_bucket_bound(times_ns: list[int], capacity: int, period_ns: int) -> None:
    """In any [t_i, t_j], at most capacity + capacity * (t_j - t_i) / period_ns approvals."""
    for i in range(len(times_ns)):
        for j in range(i + capacity, len(times_ns)):
            count = j - i + 1
            assert count * period_ns <= capacity * period_ns + capacity * (
                times_ns[j] - times_ns[i]), (i, j, times_ns)


# --- the property -----------------------------------------------------------------------------

@settings(max_examples=GATE_PROPERTY_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(config=configs, steps=steps_strategy)
def test_no_approved_order_ever_breaks_a_limit(config: RiskConfig,
                                               steps: list[tuple[object, ...]]) -> None:
    note(f"steps: {steps}")
    w = World(config)
    gate = w.gate
    trade_ids = itertools.count(1)
    for step in steps:
        match step:
            case ("intent", (symbol, side, order_type, reduce_only, flatten), qty, limit_bps):
                price = None
                if order_type is OrderType.LIMIT and limit_bps is not None:
                    base = D(repr(w.prices.get(symbol, 50.0)))
                    price = (base * (10_000 + limit_bps) / 10_000).quantize(D("0.0001"))
                intent = OrderIntent(symbol, side, qty, order_type, price, reduce_only)
                before = (len(w.inv.working_orders()), [p.qty for p in w.inv.positions()])
                decision = gate.check(intent, f"c{next(w.ids)}", w.now_ns, flatten=flatten)
                assert before == (len(w.inv.working_orders()),
                                  [p.qty for p in w.inv.positions()]), "check changed books"
                if isinstance(decision, Denied):
                    assert_denial_is_justified(w, intent, flatten, decision)
                    continue
                assert_approval_is_within_limits(w, intent, flatten, decision)
                if not (flatten and not adds_risk(w.inv, intent)):
                    w.throttled_ns.append(w.now_ns)
                w.inv.open_order(Order(decision.client_order_id, decision.symbol,
                                       decision.side, decision.qty, decision.order_type,
                                       decision.limit_price, decision.reduce_only, w.now_ns))
            case ("mark", (symbol, move_bps, age_ms, spread_bps)):
                price = round(w.prices[symbol] * (1 + move_bps / 10_000), 2)
                w.prices[symbol] = max(price, 0.5)
                w.inv.mark(symbol, w.prices[symbol], w.now_ns - age_ms * 1_000_000)
                half = w.prices[symbol] * spread_bps / 20_000
                w.inv.quote(symbol, w.prices[symbol] - half, w.prices[symbol] + half)
            case ("fill", (index, divisor, move_bps)):
                working = w.inv.working_orders()
                if working:
                    order = working[index % len(working)]
                    inst = next(i for i in INSTRUMENTS if i.symbol == order.symbol)
                    qty = inst.floor_qty(order.remaining_qty / divisor) or order.remaining_qty
                    base = order.limit_price or D(repr(w.prices[order.symbol]))
                    price = base * (10_000 + move_bps) / 10_000
                    w.inv.apply_fill(Fill(order.client_order_id, f"t{next(trade_ids)}",
                                          order.symbol, order.side, qty, price,
                                          qty * price / 1000, w.now_ns))
            case ("done", (index, state)):
                working = w.inv.working_orders()
                if working:
                    order = working[index % len(working)]
                    if order.state is not OrderState.PENDING_NEW:
                        state = OrderState.CANCELLED  # only a new order can be rejected
                    w.inv.order_done(order.client_order_id, state)
            case ("step", ns):
                w.now_ns += ns
            case ("state", state):
                gate.set_state(state)
    assert_bucket_bound(w.throttled_ns, config.max_orders_per_second, SEC)
    assert_bucket_bound(w.throttled_ns, config.max_orders_per_minute, MIN)
