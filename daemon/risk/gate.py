"""The risk gate: every intent passes here before it can become an order.

`check` is pure with respect to the books (it reads the inventory view, the clock and its own
throttle) and answers `ApprovedOrder` or `Denied(reason)`. A denial is a value with a stable
reason code (logs, metrics), not an exception. Brokers accept only `ApprovedOrder`, and only
this module can make one, so skipping the gate fails type checking and at run time.

Definitions the checks share (the README's risk table says the same):
- the *reference price* is the instrument's last trade (the mark); the *order price* is the
  limit price, or for a market order the touch it would take (ask for a buy, bid for a sell);
- notionals are valued at the worse (higher) of the two, so no estimate is rosy;
- an order *adds risk* unless it shrinks a position without flipping it, counting the orders
  already working on its side; only orders that add risk meet the stale-data, position,
  gross-exposure and leverage checks, so closing a position is never blocked by them;
- exposure in one direction is the position plus every working order that way; an instrument's
  gross exposure is the larger of its two directions (both cannot fill into one position).
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, Decimal

import msgspec

from daemon.book.inventory import InventoryView
from daemon.config import RiskConfig
from daemon.model import (
    ZERO,
    Instrument,
    MarketKind,
    OrderIntent,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from daemon.risk.liquidation import distance_pct, isolated_distances
from daemon.risk.throttle import Limited, OrderThrottle

BPS = Decimal(10_000)
# Quantities and prices at or above 1e19 are nonsense for any venue, and arithmetic on absurd
# exponents can overflow the decimal context: such intents are invalid, not a crash.
_MAX_ADJUSTED_EXPONENT = 18
_CLOSE_MARGIN = Decimal("1.1")
_MODE = {True: "isolated", False: "cross"}


class DenyReason(enum.Enum):
    HALTED = "halted"
    REDUCING = "reducing"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    INSTRUMENT_NOT_TRADING = "instrument_not_trading"
    QTY_INVALID = "qty_invalid"
    QTY_NOT_POSITIVE = "qty_not_positive"
    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"
    NOTIONAL_BELOW_MIN = "notional_below_min"
    LIMIT_PRICE_MISSING = "limit_price_missing"
    LIMIT_PRICE_INVALID = "limit_price_invalid"
    TIME_IN_FORCE_INVALID = "time_in_force_invalid"
    NO_MARKET_DATA = "no_market_data"
    SPOT_NO_SHORT = "spot_no_short"
    SPOT_CAPITAL = "spot_capital"
    STALE_MARKET_DATA = "stale_market_data"
    PRICE_COLLAR = "price_collar"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_LEVERAGE = "max_leverage"
    MIN_LIQUIDATION_DISTANCE = "min_liquidation_distance"
    DUPLICATE_INTENT = "duplicate_intent"
    THROTTLE_PER_SECOND = "throttle_per_second"
    THROTTLE_PER_MINUTE = "throttle_per_minute"
    VENUE_BACKOFF = "venue_backoff"


class Denied(msgspec.Struct, frozen=True):
    reason: DenyReason
    detail: str


_GATE_TOKEN = object()


class ApprovedOrder:
    """An order the gate approved, with quantity and price already on the venue's grid."""

    __slots__ = ("adds_risk", "approved_ns", "bar_close_ns", "client_order_id", "flatten",
                 "limit_price", "order_type", "qty", "reduce_only", "ref_price", "side", "symbol",
                 "tag", "time_in_force")

    def __init__(self, token: object, intent: OrderIntent, client_order_id: str, qty: Decimal,
                 limit_price: Decimal | None, approved_ns: int,
                 ref_price: Decimal | None = None, adds_risk: bool = True,
                 flatten: bool = False) -> None:
        if token is not _GATE_TOKEN:
            raise TypeError("only the risk gate approves orders")
        self.client_order_id = client_order_id
        self.symbol = intent.symbol
        self.side = intent.side
        self.qty = qty
        self.order_type = intent.order_type
        self.limit_price = limit_price
        self.reduce_only = intent.reduce_only
        self.tag = intent.tag
        self.bar_close_ns = intent.bar_close_ns
        self.time_in_force = intent.time_in_force
        self.approved_ns = approved_ns
        self.ref_price = ref_price  # the reference the order was checked against (audit log)
        self.adds_risk = adds_risk  # as judged at approval: what a later state change allows
        self.flatten = flatten  # one of the daemon's own closing orders

    def __repr__(self) -> str:
        return (f"ApprovedOrder({self.client_order_id} {self.side.value} {self.qty} "
                f"{self.symbol} {self.order_type.value} {self.limit_price})")


class RiskGate:
    def __init__(self, config: RiskConfig, view: InventoryView, now_ns: int,
                 margins: dict[str, tuple[int, bool]] | None = None) -> None:
        """`margins`: per swap, (leverage, isolated) on the venue (default 1x isolated); an
        isolated liquidation distance depends on nothing else but the side: worked out once."""
        self._view = view
        self._margins = margins or {}
        self._isolated: dict[str, tuple[Decimal, Decimal]] = {}
        for symbol in view.symbols:
            leverage, isolated = self._margins.get(symbol, (1, True))
            if isolated:
                self._isolated[symbol] = isolated_distances(leverage)
        self._state = config.initial_state
        self._config = config
        self._throttle = OrderThrottle(config.max_orders_per_second,
                                       config.max_orders_per_minute, now_ns)
        self._stale_ns = int(config.stale_data_s * 1_000_000_000)
        self._paused_until_ns = 0  # the venue asked us to slow down (429/418) until then
        # Per instrument, the others: the gross-exposure loop runs on every risk-adding order.
        self._others = {s: tuple(o for o in view.symbols if o != s) for s in view.symbols}

    def reconfigure(self, config: RiskConfig, now_ns: int) -> None:
        """New limits (SIGHUP). The trading state is not the config's to change while running."""
        self._config = config
        self._throttle.resize(config.max_orders_per_second, config.max_orders_per_minute, now_ns)
        self._stale_ns = int(config.stale_data_s * 1_000_000_000)

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def config(self) -> RiskConfig:
        return self._config

    def set_state(self, state: TradingState) -> None:
        self._state = state

    def pause(self, until_ns: int) -> None:
        """The venue refused us for rate (429/418, with its Retry-After): deny every order until
        then rather than send what it would refuse — repeated 429s get an IP banned (418)."""
        self._paused_until_ns = max(self._paused_until_ns, until_ns)

    def may_send(self, order: ApprovedOrder) -> bool:
        """Whether an approved order may still go out now: the state can change between the
        approval and the request (a halt while the intent was being journaled)."""
        if self._state is TradingState.HALTED:
            return order.flatten and not order.adds_risk
        if self._state is TradingState.REDUCING:
            return not order.adds_risk
        return True

    def check(self, intent: OrderIntent, client_order_id: str, now_ns: int,
              flatten: bool = False) -> ApprovedOrder | Denied:
        """Approve or deny one intent. `flatten` marks the daemon's own closing orders."""
        try:
            inst = self._view.instrument(intent.symbol)
        except KeyError:
            return Denied(DenyReason.UNKNOWN_INSTRUMENT, intent.symbol)
        if not _sane(intent.qty):
            return Denied(DenyReason.QTY_INVALID, f"qty {intent.qty}")
        if intent.qty <= ZERO:
            return Denied(DenyReason.QTY_NOT_POSITIVE, f"qty {intent.qty}")
        position = self._view.position(intent.symbol)
        working_buy, working_sell = self._view.working_qtys(intent.symbol)
        buy = intent.side is Side.BUY
        adds_risk = (position + working_buy + intent.qty > ZERO if buy
                     else working_sell + intent.qty - position > ZERO)
        if denied := self._check_state(intent, position, adds_risk, flatten):
            return denied
        if now_ns < self._paused_until_ns:
            return Denied(DenyReason.VENUE_BACKOFF, f"the venue asked us to wait "
                          f"{(self._paused_until_ns - now_ns) / 1e9:.1f}s more")
        if not inst.trading:
            return Denied(DenyReason.INSTRUMENT_NOT_TRADING, intent.symbol)
        if inst.kind is MarketKind.SPOT and not buy and (
                intent.qty + working_sell > position + self._view.allotted_base(intent.symbol)):
            # Spot cannot borrow: only base this daemon bought, or was allotted
            # (`exchange.allotted_base`), is ever sold; the account's other holdings are not
            # ours to trade.
            return Denied(DenyReason.SPOT_NO_SHORT,
                          f"sell {intent.qty} with {position} bought by this daemon and "
                          f"{self._view.allotted_base(intent.symbol)} allotted")
        # Bounded so that absurd sizes cost no arithmetic; the result is the same as unbounded.
        qty = inst.floor_qty(min(intent.qty, inst.max_qty + inst.size_increment))
        if denied := _check_size(inst, qty, intent.qty):
            return denied
        limit_price = None
        if intent.order_type is OrderType.LIMIT:
            if intent.limit_price is None:
                return Denied(DenyReason.LIMIT_PRICE_MISSING, "limit order without a price")
            if not _sane(intent.limit_price) or intent.limit_price <= 0:
                return Denied(DenyReason.LIMIT_PRICE_INVALID, f"limit {intent.limit_price}")
            limit_price = inst.limit_price(intent.limit_price, intent.side)
            if limit_price <= 0:
                return Denied(DenyReason.LIMIT_PRICE_INVALID, f"limit {intent.limit_price} "
                              f"rounds to {limit_price}")
        elif intent.time_in_force is not TimeInForce.GTC:
            return Denied(DenyReason.TIME_IN_FORCE_INVALID,
                          f"{intent.time_in_force.value} needs a limit order")
        ref = self._view.mark_price(intent.symbol)
        if ref is None or ref <= ZERO:
            return Denied(DenyReason.NO_MARKET_DATA, f"no price for {intent.symbol}")
        if adds_risk and (denied := self._check_fresh(intent.symbol, now_ns)):
            return denied
        order_price = limit_price if limit_price is not None else self._expected_fill(
            intent.symbol, intent.side, ref)
        if denied := self._check_collar(order_price, ref):
            return denied
        value_price = order_price if order_price >= ref else ref  # max(), without the call
        if denied := self._check_notional(inst, qty, order_price, value_price):
            return denied
        if adds_risk:
            after_buy = working_buy + qty if buy else working_buy
            after_sell = working_sell if buy else working_sell + qty
            if denied := self._check_exposure(intent, position, after_buy, after_sell,
                                              value_price):
                return denied
            if inst.kind is MarketKind.MARGIN and self._config.min_liquidation_distance_pct:
                after = position + qty if buy else position - qty
                if denied := self._check_liquidation(intent.symbol, after, ref):
                    return denied
        if denied := self._check_duplicate(intent, qty, limit_price):
            return denied
        if flatten and not adds_risk:
            # The daemon's own closes (one per instrument in flight) count against the rate
            # but are never refused by it: a kill switch must not wait for tokens.
            self._throttle.spend(now_ns)
        elif (limited := self._throttle.try_take(now_ns)) is not None:
            if limited is Limited.PER_SECOND:
                return Denied(DenyReason.THROTTLE_PER_SECOND,
                              f"more than {self._config.max_orders_per_second} orders/s")
            return Denied(DenyReason.THROTTLE_PER_MINUTE,
                          f"more than {self._config.max_orders_per_minute} orders/min")
        return ApprovedOrder(_GATE_TOKEN, intent, client_order_id, qty, limit_price, now_ns,
                             ref, adds_risk, flatten)

    def max_order_qty(self, symbol: str, side: Side) -> Decimal:
        """The largest quantity one order may have now (the flatten splits bigger closes)."""
        inst = self._view.instrument(symbol)
        ref = self._view.mark_price(symbol)
        if ref is None or ref <= 0:
            return inst.max_qty
        price = max(self._expected_fill(symbol, side, ref), ref)
        return min(inst.max_qty, inst.floor_qty(self._config.max_order_notional / price))

    def close_piece(self, symbol: str, side: Side, remaining: Decimal) -> Decimal:
        """The next piece of a close of `remaining`: at most one order's worth, and never
        leaving a rest too small for any order (below min qty or min notional) to close."""
        biggest = self.max_order_qty(symbol, side)
        if remaining <= biggest:
            return remaining
        inst = self._view.instrument(symbol)
        ref = self._view.mark_price(symbol)
        smallest = inst.min_qty
        if ref is not None and ref > 0:
            # 10% above the venue's minimum: the price may fall before the last piece goes.
            price = self._expected_fill(symbol, side, ref)
            steps = (inst.min_notional * _CLOSE_MARGIN / price / inst.size_increment
                     ).to_integral_value(ROUND_CEILING)
            smallest = max(smallest, steps * inst.size_increment)
        if remaining - biggest < smallest < biggest:
            return remaining - smallest
        return biggest

    # --- the checks -------------------------------------------------------------------------

    def _check_state(self, intent: OrderIntent, position: Decimal, adds_risk: bool,
                     flatten: bool) -> Denied | None:
        if self._state is TradingState.HALTED and not (flatten and not adds_risk):
            return Denied(DenyReason.HALTED, "trading is halted: only flattening orders")
        if self._state is TradingState.REDUCING and adds_risk:
            return Denied(DenyReason.REDUCING, "reducing: only orders that shrink a position")
        if intent.reduce_only and adds_risk:
            return Denied(DenyReason.REDUCE_ONLY_WOULD_INCREASE,
                          f"position {position}, {intent.side.value} {intent.qty}")
        return None

    def _check_fresh(self, symbol: str, now_ns: int) -> Denied | None:
        ts = self._view.mark_ts_ns(symbol)
        if ts is None or now_ns - ts > self._stale_ns:
            age = "never" if ts is None else f"{(now_ns - ts) / 1e9:.3f}s old"
            return Denied(DenyReason.STALE_MARKET_DATA,
                          f"{symbol} data {age} > {self._config.stale_data_s:g}s")
        return None

    def _expected_fill(self, symbol: str, side: Side, ref: Decimal) -> Decimal:
        touch = self._view.touch(symbol)
        if touch is None:
            return ref
        return touch[1] if side is Side.BUY else touch[0]

    def _check_collar(self, price: Decimal, ref: Decimal) -> Denied | None:
        if abs(price - ref) * BPS > self._config.price_collar_bps * ref:
            away_bps = abs(price - ref) * BPS / ref
            return Denied(DenyReason.PRICE_COLLAR,
                          f"price {price} is {away_bps:.1f} bps from reference {ref} > "
                          f"{self._config.price_collar_bps}")
        return None

    def _check_notional(self, inst: Instrument, qty: Decimal, order_price: Decimal,
                        value_price: Decimal) -> Denied | None:
        if qty * order_price < inst.min_notional:
            return Denied(DenyReason.NOTIONAL_BELOW_MIN,
                          f"notional {qty * order_price} < min {inst.min_notional}")
        notional = qty * value_price
        if notional > self._config.max_order_notional:
            return Denied(DenyReason.MAX_ORDER_NOTIONAL,
                          f"notional {notional} > {self._config.max_order_notional}")
        return None

    def _check_exposure(self, intent: OrderIntent, position: Decimal, after_buy: Decimal,
                        after_sell: Decimal, price: Decimal) -> Denied | None:
        """Position, gross exposure and leverage if every working order and this one filled."""
        long_qty = position + after_buy
        if long_qty < 0:
            long_qty = ZERO
        short_qty = after_sell - position
        if short_qty < 0:
            short_qty = ZERO
        buy = intent.side is Side.BUY
        same_side = long_qty if buy else short_qty
        cfg = self._config
        if same_side * price > cfg.max_position_notional:
            return Denied(DenyReason.MAX_POSITION_NOTIONAL,
                          f"{intent.symbol} would reach {same_side * price} > "
                          f"{cfg.max_position_notional}")
        gross = (long_qty if long_qty > short_qty else short_qty) * price
        spot_held = ZERO  # the other spot instruments' exposure: what their buys cost
        for symbol in self._others[intent.symbol]:
            exposure = self._exposure_of(symbol)
            if exposure is None:
                return Denied(DenyReason.NO_MARKET_DATA, f"cannot value {symbol} exposure")
            gross += exposure
            if self._view.instrument(symbol).kind is MarketKind.SPOT:
                spot_held += exposure
        if gross > cfg.max_gross_exposure:
            return Denied(DenyReason.MAX_GROSS_EXPOSURE,
                          f"gross exposure would reach {gross} > {cfg.max_gross_exposure}")
        equity = self._view.equity()
        if equity <= 0 or gross > cfg.max_leverage * equity:
            return Denied(DenyReason.MAX_LEVERAGE,
                          f"gross {gross} on equity {equity} > {cfg.max_leverage}x")
        if buy and self._view.instrument(intent.symbol).kind is MarketKind.SPOT:
            # Spot cannot borrow: what this daemon holds and is buying on spot, at the worse
            # price, must fit in its equity (the allotted capital and its own PnL), whatever
            # max_leverage says — past it, a buy would spend the operator's other quote balance.
            holding = spot_held + long_qty * price
            if holding > equity:
                return Denied(DenyReason.SPOT_CAPITAL, f"spot holdings and buys would reach "
                              f"{holding} > equity {equity}")
        return None

    def _check_liquidation(self, symbol: str, after: Decimal, mark: Decimal) -> Denied | None:
        """The position after the order keeps `min_liquidation_distance_pct` from liquidation."""
        if not after:
            return None
        leverage, isolated = self._margins.get(symbol, (1, True))
        sides = self._isolated.get(symbol)
        distance = ((sides[0] if after > 0 else sides[1]) if sides is not None
                    else distance_pct(after, mark, leverage, False, self._view.equity()))
        limit = self._config.min_liquidation_distance_pct
        if distance < limit:
            return Denied(DenyReason.MIN_LIQUIDATION_DISTANCE,
                          f"{symbol} position {after} would be liquidated {distance:.2f}% from "
                          f"the mark {mark} < {limit}% ({leverage}x {_MODE[isolated]})")
        return None

    def _exposure_of(self, symbol: str) -> Decimal | None:
        """An instrument's gross exposure at its mark; None if it has some and no mark."""
        position = self._view.position(symbol)
        buy, sell = self._view.working_qtys(symbol)
        qty = max(position + buy, sell - position, ZERO)
        if not qty:
            return ZERO
        mark = self._view.mark_price(symbol)
        return None if mark is None else qty * mark

    def _check_duplicate(self, intent: OrderIntent, qty: Decimal,
                         limit_price: Decimal | None) -> Denied | None:
        """The same order again while the first still works: a loop gone wrong, not intent."""
        twin = self._view.find_working(intent.symbol, intent.side, qty, intent.order_type,
                                       limit_price, intent.reduce_only)
        if twin is not None:
            return Denied(DenyReason.DUPLICATE_INTENT, f"same as working order {twin}")
        return None


def _sane(value: Decimal) -> bool:
    return value.is_finite() and value.adjusted() <= _MAX_ADJUSTED_EXPONENT


def _check_size(inst: Instrument, qty: Decimal, asked: Decimal) -> Denied | None:
    if qty < inst.min_qty or qty <= ZERO:
        return Denied(DenyReason.QTY_BELOW_MIN, f"qty {qty} < min {inst.min_qty}")
    if qty > inst.max_qty:
        return Denied(DenyReason.QTY_ABOVE_MAX, f"qty {asked} > max {inst.max_qty}")
    return None
