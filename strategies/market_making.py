"""Market making: post-only quotes on both sides around an inventory-skewed reservation price.

The Avellaneda–Stoikov quotes, measured in basis points of the mid (a documented variant: the
model's price units replaced by bps, so `gamma` and `k` do not depend on the instrument's
price level). With `q` the position as a fraction of `max_inventory` (-1..1) and `var` the mid's
variance in bps² per second (an EWMA of squared log changes, half-life `vol_halflife_s`):

    reservation  r = mid * (1 - q * gamma * var * tau_s / 1e4)
    half-spread  h = max(min_half_spread_bps, gamma * var * tau_s / 2 + ln(1 + gamma / k) / gamma)
    bid = r * (1 - h / 1e4)        ask = r * (1 + h / 1e4)

A long position lowers both quotes (it sells more eagerly and buys less), a short one raises
them. Quotes are post-only limits tagged "bid" and "ask": the venue (or the paper broker)
rejects one that would cross, so a quote never becomes a taker fill. A quote is replaced
(cancel, then the new one: `Replace`) when the mid has moved more than `requote_bps` since it
was placed, when it is older than `max_quote_age_s` (checked on a timer), or when its size must
change; after a fill both sides are requoted at once.

Inventory: a bid is never bigger than what would take the position to `max_inventory`, an ask
never bigger than what would take it to `-max_inventory` (on spot, than what this daemon
holds: the allotted base, `exchange.allotted_base`, and what it bought; without an allotment
the ask appears once a bid has filled); a side at its limit is not quoted. The position counts
from the allotment, so the quotes are centred while the daemon holds just that. If the gate
denies a quote (a halt, the throttle) the strategy stays quiet for `backoff_s` before it asks
again; on a halt the daemon's flatten cancels the quotes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.strategy_view import StrategyView, WorkingOrder
from daemon.model import (
    ZERO,
    Action,
    Cancel,
    Fill,
    MarketKind,
    OrderIntent,
    OrderState,
    OrderType,
    Replace,
    Side,
    TickBatch,
    TimeInForce,
)
from strategies.base import OrderEvent, SingleInstrumentStrategy, StrategyContext

BPS = 1e4
NS = 1_000_000_000


class MarketMakingParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal  # base per quote
    max_inventory: Decimal  # the position never goes beyond this, either way (base)
    gamma: float = 0.1  # risk aversion: inventory skew and the variance part of the spread
    k: float = 1.5  # order arrival intensity: the higher, the tighter the spread
    tau_s: float = 10.0  # the horizon the inventory is held over
    min_half_spread_bps: float = 2.0
    requote_bps: float = 2.0
    max_quote_age_s: float = 30.0
    vol_halflife_s: float = 60.0
    initial_vol_bps: float = 1.5  # per sqrt(second), until the estimate has data
    backoff_s: float = 1.0
    bar_interval_s: int = 60  # bars are not used; the engine still builds them

    def __post_init__(self) -> None:
        if self.qty <= 0 or self.max_inventory < self.qty:
            raise ValueError("max_inventory: must be >= qty > 0")
        for name in ("gamma", "k", "tau_s", "requote_bps", "max_quote_age_s",
                     "vol_halflife_s", "initial_vol_bps", "backoff_s", "bar_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
        if self.min_half_spread_bps < 0:
            raise ValueError("min_half_spread_bps: must be >= 0")


def quotes(mid: float, q: float, var_bps2_per_s: float,
           p: MarketMakingParams) -> tuple[float, float]:
    """(bid, ask) for inventory fraction `q` at variance `var` (bps² per second)."""
    risk = p.gamma * var_bps2_per_s * p.tau_s
    r = mid * (1 - q * risk / BPS)
    half = max(p.min_half_spread_bps, risk / 2 + math.log(1 + p.gamma / p.k) / p.gamma)
    return r * (1 - half / BPS), r * (1 + half / BPS)


class MarketMaker(SingleInstrumentStrategy[MarketMakingParams]):
    Params = MarketMakingParams

    def __init__(self, params: MarketMakingParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._inst = ctx.instruments[params.symbol]
        self._mid: float | None = None
        self._mid_ns = 0
        self._var = params.initial_vol_bps ** 2
        self._placed: dict[str, tuple[float, int]] = {}  # tag -> (mid, time) when quoted
        self._quiet_until_ns = 0
        self._now_ns = 0

    @property
    def timer_interval_s(self) -> float:
        return min(1.0, self.params.max_quote_age_s / 2)

    def on_ticks(self, batch: TickBatch, view: StrategyView) -> Sequence[Action]:
        if batch.symbol != self.params.symbol or not 0 < batch.bid <= batch.ask:
            return ()
        self._observe((batch.bid + batch.ask) / 2, batch.recv_ns)
        return self._requote(view, batch.recv_ns)

    def on_fill(self, fill: Fill, view: StrategyView) -> Sequence[Action]:
        self._placed.clear()  # the inventory changed: both sides move
        return self._requote(view, self._now_ns)

    def on_order(self, event: OrderEvent, view: StrategyView) -> Sequence[Action]:
        reason = getattr(event, "reason", "")
        if reason.startswith("denied:"):
            self._quiet_until_ns = self._now_ns + int(self.params.backoff_s * NS)
        return ()

    def on_timer(self, now_ns: int, view: StrategyView) -> Sequence[Action]:
        return self._requote(view, now_ns)

    def _observe(self, mid: float, now_ns: int) -> None:
        if self._mid is not None and now_ns > self._mid_ns and mid > 0:
            dt_s = (now_ns - self._mid_ns) / NS
            r_bps = math.log(mid / self._mid) * BPS
            w = 1 - 0.5 ** (dt_s / self.params.vol_halflife_s)
            self._var += w * (r_bps * r_bps / dt_s - self._var)
        self._mid, self._mid_ns = mid, now_ns
        self._now_ns = max(self._now_ns, now_ns)

    def _requote(self, view: StrategyView, now_ns: int) -> list[Action]:
        self._now_ns = now_ns = max(self._now_ns, now_ns)
        mid = self._mid
        if mid is None or now_ns < self._quiet_until_ns:
            return []
        p = self.params
        position = view.position(p.symbol)
        bid, ask = quotes(mid, float(position / p.max_inventory), self._var, p)
        own = {o.tag: o for o in view.own_orders(p.symbol)}
        actions: list[Action] = []
        ask_qty = self._ask_qty(position, view.allotted_base(p.symbol))
        for side, tag, price, qty in ((Side.BUY, "bid", bid, self._bid_qty(position)),
                                      (Side.SELL, "ask", ask, ask_qty)):
            action = self._side(own.get(tag), side, tag, price, qty, mid, now_ns)
            if action is not None:
                actions.append(action)
        return actions

    def _side(self, working: WorkingOrder | None, side: Side, tag: str, price: float,
              qty: Decimal, mid: float, now_ns: int) -> Action | None:
        if working is not None and working.state is OrderState.PENDING_CANCEL:
            return None  # being replaced or cancelled: wait for its end
        if qty <= ZERO:
            return None if working is None else Cancel(working.client_order_id)
        limit = self._inst.limit_price(Decimal(repr(price)), side)
        intent = OrderIntent(self.params.symbol, side, qty, OrderType.LIMIT, limit, tag=tag,
                             time_in_force=TimeInForce.POST_ONLY)
        if working is None:
            self._placed[tag] = (mid, now_ns)
            return intent
        if working.remaining_qty == qty and not self._stale(tag, mid, now_ns):
            return None
        self._placed[tag] = (mid, now_ns)
        return Replace(working.client_order_id, intent)

    def _stale(self, tag: str, mid: float, now_ns: int) -> bool:
        placed = self._placed.get(tag)
        if placed is None:
            return True
        quoted_mid, at_ns = placed
        moved_bps = abs(mid - quoted_mid) / quoted_mid * BPS
        return (moved_bps > self.params.requote_bps
                or now_ns - at_ns > self.params.max_quote_age_s * NS)

    def _bid_qty(self, position: Decimal) -> Decimal:
        return self._sized(min(self.params.qty, self.params.max_inventory - position))

    def _ask_qty(self, position: Decimal, allotted: Decimal) -> Decimal:
        # Spot cannot sell what it does not hold: the allotment, or less, stands for the room
        # below zero that `max_inventory` gives a swap.
        floor = self.params.max_inventory
        if self._inst.kind is MarketKind.SPOT:
            floor = min(floor, allotted)
        return self._sized(min(self.params.qty, floor + position))

    def _sized(self, qty: Decimal) -> Decimal:
        qty = self._inst.floor_qty(qty)
        if qty <= ZERO or qty < self._inst.min_qty or self._mid is None or (
                qty * Decimal(repr(self._mid)) < self._inst.min_notional):
            return ZERO
        return qty
