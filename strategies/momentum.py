"""Momentum: the z-score of the N-bar return, sized by volatility targeting under a fractional-
Kelly cap, with a trailing stop and a cool-down after it.

Signal (on each closed bar, from log returns of closes): the N-bar return `R = ln(c_t / c_t-N)`
over its expected spread `sigma * sqrt(N)`, where `sigma` is the standard deviation of the last
`vol_window` one-bar returns: `z = R / (sigma * sqrt(N))`. Flat, `z > entry_z` opens long and
`z < -entry_z` short (spot: long only).

Size: the fraction of equity `min(target_vol / sigma, kelly_k * mu / sigma², max_fraction)`
(`strategies.sizing`), with `mu = R / N` the mean one-bar return in the trade's direction; the
quantity is that fraction of equity at the close, rounded down to the lot.

Exit: a trailing stop. The best close since entry (highest long, lowest short) is kept; once
the close retraces `trail_pct` percent from it the position is closed (reduce-only market
order), and no entry is taken for `cooldown_bars` bars after. Nothing else closes a position:
it rides the trend until the stop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.strategy_view import StrategyView
from daemon.model import ZERO, Action, Bar, MarketKind, OrderIntent, Side, to_decimal_price
from strategies import sizing
from strategies.base import SingleInstrumentStrategy, StrategyContext


class MomentumParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    bar_interval_s: int = 3600
    lookback_bars: int = 20  # N
    vol_window: int = 50
    entry_z: float = 1.5
    target_vol: float = 0.01  # per bar, as a fraction (0.01: 1% of equity's worth moves a bar)
    kelly_k: float = 0.5
    kelly_cap: float = 1.0
    max_fraction: float = 1.0
    trail_pct: float = 3.0
    cooldown_bars: int = 5

    def __post_init__(self) -> None:
        for name in ("bar_interval_s", "lookback_bars", "entry_z", "target_vol", "kelly_k",
                     "kelly_cap", "max_fraction", "trail_pct"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
        if self.vol_window < 2:
            raise ValueError("vol_window: must be >= 2")
        if self.cooldown_bars < 0:
            raise ValueError("cooldown_bars: must be >= 0")


class Signal(msgspec.Struct, frozen=True):
    z: float
    mu: float  # mean one-bar log return over the lookback
    sigma: float  # standard deviation of one-bar log returns over the vol window


def signal(closes: Sequence[float], lookback: int, vol_window: int) -> Signal | None:
    """The z-score of the last `lookback`-bar return; None until enough closes (or no vol)."""
    if len(closes) < max(lookback, vol_window) + 1:
        return None
    closes = list(closes)
    rets = [math.log(b / a) for a, b in zip(closes[-vol_window - 1:-1], closes[-vol_window:],
                                           strict=True)]
    mean = sum(rets) / len(rets)
    sigma = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
    if sigma <= 0:
        return None
    total = math.log(closes[-1] / closes[-1 - lookback])
    return Signal(total / (sigma * math.sqrt(lookback)), total / lookback, sigma)


def fraction(sig: Signal, direction: int, p: MomentumParams) -> float:
    """The equity fraction to hold: vol target, capped by fractional Kelly and `max_fraction`."""
    vol = sizing.vol_target_fraction(p.target_vol, sig.sigma, p.max_fraction)
    kelly = sizing.kelly_fraction(direction * sig.mu, sig.sigma, p.kelly_k, p.kelly_cap)
    return min(vol, kelly)


class Momentum(SingleInstrumentStrategy[MomentumParams]):
    Params = MomentumParams

    def __init__(self, params: MomentumParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._inst = ctx.instruments[params.symbol]
        self._closes: deque[float] = deque(
            maxlen=max(params.lookback_bars, params.vol_window) + 1)
        self._best: float | None = None  # best close since entry
        self._cooldown = 0
        self.last_signal: Signal | None = None

    @property
    def warmup_bars(self) -> int:
        return self._closes.maxlen or 0

    def warm_up(self, bar: Bar) -> None:
        if bar.symbol == self.params.symbol:
            self._closes.append(bar.close)

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        p = self.params
        if bar.symbol != p.symbol:
            return ()
        self._closes.append(bar.close)
        self.last_signal = sig = signal(self._closes, p.lookback_bars, p.vol_window)
        cooling = self._cooldown > 0  # this bar is one of the cool-down's
        if cooling:
            self._cooldown -= 1
        if view.has_working_orders(p.symbol):
            return ()
        held = view.position(p.symbol) if view.closable_qty(p.symbol) else ZERO
        if held:
            return self._trail(bar, held)
        self._best = None
        if sig is None or cooling or abs(sig.z) <= p.entry_z:
            return ()
        direction = 1 if sig.z > 0 else -1
        if direction < 0 and self._inst.kind is MarketKind.SPOT:
            return ()
        qty = self._inst.floor_qty(sizing.quantity(
            view.equity(), to_decimal_price(bar.close), fraction(sig, direction, p)))
        if qty <= 0 or qty < self._inst.min_qty:
            return ()
        self._best = bar.close
        return (OrderIntent(p.symbol, Side.BUY if direction > 0 else Side.SELL, qty,
                            tag="entry", bar_close_ns=bar.end_ns),)

    def _trail(self, bar: Bar, held: Decimal) -> Sequence[Action]:
        long = held > 0
        best = self._best if self._best is not None else bar.close
        self._best = best = max(best, bar.close) if long else min(best, bar.close)
        retrace_pct = (best - bar.close) / best * 100 if long else (bar.close - best) / best * 100
        if retrace_pct < self.params.trail_pct:
            return ()
        self._best = None
        self._cooldown = self.params.cooldown_bars
        return (OrderIntent(self.params.symbol, Side.SELL if long else Side.BUY, abs(held),
                            reduce_only=True, tag="trailing_stop", bar_close_ns=bar.end_ns),)
