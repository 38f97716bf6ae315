"""The risk gate: every intent passes here before it can become an order.

`check` is pure with respect to the books (it reads the inventory view, the clock and its own
throttle) and answers `ApprovedOrder` or `Denied(reason)`. A denial is a value with a stable
reason code (logs, metrics), not an exception. Brokers accept only `ApprovedOrder`, and only
this module can make one, so skipping the gate fails type checking and at run time.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from daemon.config import RiskConfig, TradingState
from daemon.inventory import InventoryView
from daemon.model import ZERO, Instrument, MarketKind, OrderIntent, OrderType, Side


class DenyReason(enum.Enum):
    HALTED = "halted"
    REDUCING = "reducing"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    INSTRUMENT_NOT_TRADING = "instrument_not_trading"
    QTY_NOT_POSITIVE = "qty_not_positive"
    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"
    NOTIONAL_BELOW_MIN = "notional_below_min"
    LIMIT_PRICE_MISSING = "limit_price_missing"
    NO_MARKET_DATA = "no_market_data"
    SPOT_NO_SHORT = "spot_no_short"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    THROTTLE_PER_SECOND = "throttle_per_second"


class Denied(msgspec.Struct, frozen=True):
    reason: DenyReason
    detail: str


_GATE_TOKEN = object()


class ApprovedOrder:
    """An order the gate approved, with quantity and price already on the venue's grid."""

    __slots__ = ("approved_ns", "bar_close_ns", "client_order_id", "limit_price", "order_type",
                 "qty", "reduce_only", "side", "symbol", "tag")

    def __init__(self, token: object, intent: OrderIntent, client_order_id: str, qty: Decimal,
                 limit_price: Decimal | None, approved_ns: int) -> None:
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
        self.approved_ns = approved_ns

    def __repr__(self) -> str:
        return (f"ApprovedOrder({self.client_order_id} {self.side.value} {self.qty} "
                f"{self.symbol} {self.order_type.value} {self.limit_price})")


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity`; time is integer nanoseconds."""

    __slots__ = ("_capacity", "_last_ns", "_rate", "_tokens")

    def __init__(self, rate: float, capacity: float, now_ns: int) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._last_ns = now_ns

    def try_take(self, now_ns: int) -> bool:
        if now_ns > self._last_ns:
            self._tokens = min(self._capacity,
                               self._tokens + (now_ns - self._last_ns) * self._rate / 1e9)
            self._last_ns = now_ns
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class RiskGate:
    def __init__(self, config: RiskConfig, view: InventoryView, now_ns: int) -> None:
        self._view = view
        self._state = config.initial_state
        self._configure(config, now_ns)

    def _configure(self, config: RiskConfig, now_ns: int) -> None:
        self._config = config
        per_s = config.max_orders_per_second
        self._per_second = TokenBucket(per_s, per_s, now_ns)

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def config(self) -> RiskConfig:
        return self._config

    def set_state(self, state: TradingState) -> None:
        self._state = state

    def check(self, intent: OrderIntent, client_order_id: str, now_ns: int,
              flatten: bool = False) -> ApprovedOrder | Denied:
        """Approve or deny one intent. `flatten` marks the daemon's own closing orders."""
        try:
            inst = self._view.instrument(intent.symbol)
        except KeyError:
            return Denied(DenyReason.UNKNOWN_INSTRUMENT, intent.symbol)
        position = self._view.position(intent.symbol)
        if denied := self._check_state(intent, position, flatten):
            return denied
        if not inst.trading:
            return Denied(DenyReason.INSTRUMENT_NOT_TRADING, intent.symbol)
        if inst.kind is MarketKind.SPOT and intent.side is Side.SELL and (
                intent.qty + self._view.working_qty(intent.symbol, Side.SELL) > position):
            # Spot is long-only, and only base this daemon bought is ever sold: the account's
            # other holdings are not ours to trade.
            return Denied(DenyReason.SPOT_NO_SHORT,
                          f"sell {intent.qty} with {position} bought by this daemon")
        qty = inst.floor_qty(intent.qty)
        if denied := self._check_size(inst, intent, qty):
            return denied
        limit_price = None
        if intent.order_type is OrderType.LIMIT:
            if intent.limit_price is None:
                return Denied(DenyReason.LIMIT_PRICE_MISSING, "limit order without a price")
            limit_price = inst.limit_price(intent.limit_price, intent.side)
        ref_price = limit_price or self._view.mark_price(intent.symbol)
        if ref_price is None or ref_price <= 0:
            return Denied(DenyReason.NO_MARKET_DATA, f"no price for {intent.symbol}")
        if denied := self._check_notional(inst, intent, qty, ref_price, position):
            return denied
        if not self._per_second.try_take(now_ns):
            return Denied(DenyReason.THROTTLE_PER_SECOND,
                          f"more than {self._config.max_orders_per_second} orders/s")
        return ApprovedOrder(_GATE_TOKEN, intent, client_order_id, qty, limit_price, now_ns)

    def _check_state(self, intent: OrderIntent, position: Decimal,
                     flatten: bool) -> Denied | None:
        reduces = _reduces(intent, position, self._view.working_qty(intent.symbol, intent.side))
        if self._state is TradingState.HALTED and not (flatten and reduces):
            return Denied(DenyReason.HALTED, "trading is halted: only flattening orders")
        if self._state is TradingState.REDUCING and not reduces:
            return Denied(DenyReason.REDUCING, "reducing: only orders that shrink a position")
        if intent.reduce_only and not reduces:
            return Denied(DenyReason.REDUCE_ONLY_WOULD_INCREASE,
                          f"position {position}, {intent.side.value} {intent.qty}")
        return None

    def _check_size(self, inst: Instrument, intent: OrderIntent, qty: Decimal) -> Denied | None:
        if intent.qty <= 0:
            return Denied(DenyReason.QTY_NOT_POSITIVE, f"qty {intent.qty}")
        if qty < inst.min_qty or qty <= 0:
            return Denied(DenyReason.QTY_BELOW_MIN, f"qty {qty} < min {inst.min_qty}")
        if qty > inst.max_qty:
            return Denied(DenyReason.QTY_ABOVE_MAX, f"qty {qty} > max {inst.max_qty}")
        return None

    def _check_notional(self, inst: Instrument, intent: OrderIntent, qty: Decimal,
                        price: Decimal, position: Decimal) -> Denied | None:
        notional = qty * price
        if notional < inst.min_notional:
            return Denied(DenyReason.NOTIONAL_BELOW_MIN,
                          f"notional {notional} < min {inst.min_notional}")
        if notional > self._config.max_order_notional:
            return Denied(DenyReason.MAX_ORDER_NOTIONAL,
                          f"notional {notional} > {self._config.max_order_notional}")
        # Exposure in the order's direction, counting what is already working that way: ten
        # orders each under the limit must not add up to a position over it.
        working = self._view.working_qty(intent.symbol, intent.side)
        projected = abs(position * intent.side.sign + working + qty) if _grows(
            intent.side, position, working, qty) else ZERO
        if projected * price > self._config.max_position_notional:
            return Denied(DenyReason.MAX_POSITION_NOTIONAL,
                          f"position would reach {projected * price} > "
                          f"{self._config.max_position_notional}")
        return None


def _reduces(intent: OrderIntent, position: Decimal, working_same_side: Decimal) -> bool:
    """The order, with what already works on its side, shrinks the position without a flip."""
    if position == 0 or Side.of(position) is intent.side:
        return False
    return working_same_side + intent.qty <= abs(position)


def _grows(side: Side, position: Decimal, working: Decimal, qty: Decimal) -> bool:
    """True when the order leaves exposure on its own side (it opens, adds or flips)."""
    return position * side.sign + working + qty > 0
