"""Pairs trading: two instruments, the hedge ratio estimated online by a Kalman filter, the
spread's z-score traded back to its mean, both legs dollar-neutral.

Each bar end at which both instruments have closed updates the filter
(`strategies.kalman.HedgeRatio`: state intercept and slope of `y = alpha + beta * x`) with the
dependent's close `y` and the independent's `x`; `z` is the innovation over its predicted
standard deviation. After `min_bars` updates (warm-up bars count), flat and `z > entry_z` (the
dependent rich) sells the dependent and buys the independent, `z < -entry_z` the reverse; each
leg is `notional` quote at its close, rounded down to its lot. Out when `|z| < exit_z` or after
`max_holding_bars`, both legs reduce-only at market.

Leg risk: the two legs go out in one decision. If either is rejected (by the venue, or denied
by the gate), or both have not filled within `leg_timeout_s`, the strategy unwinds: it cancels
what is still working and closes whatever either leg filled. It stays out until flat again.
Needs instruments that can be sold short (swaps, or a margin paper account): on spot the short
leg is denied and the other unwound.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.strategy_view import StrategyView
from daemon.events import OrderRejected
from daemon.model import (
    ZERO,
    Action,
    Bar,
    Cancel,
    Fill,
    OrderIntent,
    Side,
    to_decimal_price,
)
from strategies.base import OrderEvent, Strategy, StrategyContext, StrategyParamError
from strategies.kalman import HedgeRatio

NS = 1_000_000_000
UNWIND_ON_REJECT = ("leg_y", "leg_x", "exit")  # tags whose rejection unwinds the pair


class PairsParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    dependent: str  # y
    independent: str  # x
    notional: Decimal  # quote per leg
    bar_interval_s: int = 60
    entry_z: float = 2.0
    exit_z: float = 0.5
    max_holding_bars: int = 60
    leg_timeout_s: float = 10.0
    min_bars: int = 30
    # The state drift per bar (strategies.kalman). The slope's drift moves the fair value by
    # about x * sqrt(delta) a bar: keep that well under the spread's noise (1e-14 at
    # x = 60000: 0.006 a bar), or a divergence is absorbed into the line instead of traded.
    delta: float = 1e-14
    obs_var: float = 1.0  # the spread's variance, in the dependent's price units squared
    p0: float = 1e6  # prior variance of intercept and slope: wide, they are unknown

    def __post_init__(self) -> None:
        if self.dependent == self.independent:
            raise ValueError("independent: must differ from dependent")
        if self.notional <= 0:
            raise ValueError("notional: must be > 0")
        if not 0 <= self.exit_z < self.entry_z:
            raise ValueError("exit_z: must be >= 0 and < entry_z")
        for name in ("bar_interval_s", "max_holding_bars", "leg_timeout_s", "min_bars",
                     "delta", "obs_var", "p0"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")


class PairsTrading(Strategy[PairsParams]):
    Params = PairsParams

    def __init__(self, params: PairsParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        for key in ("dependent", "independent"):
            if getattr(params, key) not in ctx.instruments:
                raise StrategyParamError(key, f"'{getattr(params, key)}' is not configured")
        self._y, self._x = params.dependent, params.independent
        self.kalman = HedgeRatio(params.delta, params.obs_var, p0=params.p0)
        self._closes: dict[str, tuple[int, float]] = {}  # symbol -> (bar end, close)
        self.updates = 0
        self.z: float | None = None
        self.state = "flat"  # flat | entering | open | exiting | unwinding
        self._sent_ns = 0
        self._held_bars = 0

    @property
    def bar_interval_ns(self) -> int:
        return self.params.bar_interval_s * NS

    @property
    def symbols(self) -> Sequence[str]:
        return (self._y, self._x)

    @property
    def warmup_bars(self) -> int:
        return self.params.min_bars

    @property
    def timer_interval_s(self) -> float:
        return min(1.0, self.params.leg_timeout_s / 2)

    def warm_up(self, bar: Bar) -> None:
        self._update(bar)

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        if not self._update(bar):
            return ()
        if self.state == "unwinding":
            return self._unwind(view)
        if view.own_orders():
            return ()  # a leg still working: its fill, rejection or the timer decides
        y_pos, x_pos = view.position(self._y), view.position(self._x)
        if self.state in ("entering", "exiting"):
            self.state = "open" if y_pos and x_pos else "flat" if not (y_pos or x_pos) \
                else "unwinding"
            if self.state == "unwinding":
                return self._unwind(view)
        if self.state == "open":
            return self._maybe_exit(bar, view)
        return self._maybe_enter(bar, view)

    def on_order(self, event: OrderEvent, view: StrategyView) -> Sequence[Action]:
        tag = view.tag_of(event.client_order_id) or ""
        if isinstance(event, OrderRejected) and tag in UNWIND_ON_REJECT:
            self.state = "unwinding"
            return self._unwind(view)
        return ()

    def on_fill(self, fill: Fill, view: StrategyView) -> Sequence[Action]:
        return self._unwind(view) if self.state == "unwinding" else ()

    def on_timer(self, now_ns: int, view: StrategyView) -> Sequence[Action]:
        if self.state == "entering" and now_ns - self._sent_ns > self.params.leg_timeout_s * NS:
            legs_filled = view.position(self._y) and view.position(self._x)
            if not legs_filled:
                self.state = "unwinding"
                return self._unwind(view)
        if self.state == "unwinding":
            return self._unwind(view)
        return ()

    def _update(self, bar: Bar) -> bool:
        """Record a close; True when it completed a bar end of both legs (the filter moved)."""
        if bar.symbol not in (self._y, self._x):
            return False
        self._closes[bar.symbol] = (bar.end_ns, bar.close)
        y, x = self._closes.get(self._y), self._closes.get(self._x)
        if y is None or x is None or y[0] != x[0] or y[0] != bar.end_ns:
            return False
        innovation = self.kalman.update(x[1], y[1])
        self.z = innovation.spread / innovation.std
        self.updates += 1
        return True

    def _maybe_enter(self, bar: Bar, view: StrategyView) -> list[Action]:
        p, z = self.params, self.z
        if z is None or self.updates < p.min_bars or abs(z) <= p.entry_z:
            return []
        y_qty, x_qty = self._leg_qty(self._y, view), self._leg_qty(self._x, view)
        if not (y_qty and x_qty):
            return []
        rich = z > 0  # the dependent is above its fair value: sell it, buy the other
        self.state, self._sent_ns, self._held_bars = "entering", bar.end_ns, 0
        return [OrderIntent(self._y, Side.SELL if rich else Side.BUY, y_qty, tag="leg_y",
                            bar_close_ns=bar.end_ns),
                OrderIntent(self._x, Side.BUY if rich else Side.SELL, x_qty, tag="leg_x",
                            bar_close_ns=bar.end_ns)]

    def _maybe_exit(self, bar: Bar, view: StrategyView) -> list[Action]:
        self._held_bars += 1
        z = self.z
        if z is not None and abs(z) >= self.params.exit_z \
                and self._held_bars < self.params.max_holding_bars:
            return []
        self.state = "exiting"
        return self._closes_of(view, "exit", bar.end_ns)

    def _unwind(self, view: StrategyView) -> list[Action]:
        own = view.own_orders()
        actions: list[Action] = [Cancel(o.client_order_id) for o in own
                                 if o.tag != "unwind"]
        closing = {o.symbol for o in own if o.tag == "unwind"}
        actions += [a for a in self._closes_of(view, "unwind", 0)
                    if isinstance(a, OrderIntent) and a.symbol not in closing]
        if not own and not view.position(self._y) and not view.position(self._x):
            self.state = "flat"
        return actions

    def _closes_of(self, view: StrategyView, tag: str, bar_close_ns: int) -> list[Action]:
        out: list[Action] = []
        for symbol in (self._y, self._x):
            held = view.position(symbol)
            if held and view.closable_qty(symbol):
                out.append(OrderIntent(symbol, Side.of(-held), abs(held), reduce_only=True,
                                       tag=tag, bar_close_ns=bar_close_ns))
        return out

    def _leg_qty(self, symbol: str, view: StrategyView) -> Decimal:
        inst = view.instrument(symbol)
        mark = view.mark_price(symbol)
        close = self._closes[symbol][1]
        price = mark if mark is not None else to_decimal_price(close)
        qty = inst.floor_qty(self.params.notional / price) if price > 0 else ZERO
        return qty if qty >= inst.min_qty and qty > 0 else ZERO
