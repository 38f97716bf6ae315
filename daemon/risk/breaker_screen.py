"""Screening a run of ticks for the circuit breakers: where could a mark trip one?

A replay's market walk (`daemon.market_walk`) marks the books only at ticks where something can
happen. Between two fills equity is a straight line in one instrument's price,
`base + qty * price`, so one `min`/`max` over a run of prices tells whether any tick in it gets
near a breaker's threshold; only then are its ticks looked at one by one. Floats, with slack far
above their error, so screening errs towards a look: a tick it passes over cannot trip a
breaker (the breakers themselves then decide, in `Decimal`, at the ticks it returns).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

SLACK = 1e-9  # relative: a float's error is ~1e-16


class Screen:
    """The breakers' thresholds and one instrument's equity line, as they stand now."""

    __slots__ = ("_base", "_daily_floor", "_day_end_ns", "_keep", "_look_now", "_peak", "_qty",
                 "_slack")

    def __init__(self, base: float, qty: float, peak: float, daily_floor: float,
                 keep: float, day_end_ns: int, look_now: bool = False) -> None:
        self._base = base  # equity = base + qty * price
        self._qty = qty
        self._peak = peak
        self._daily_floor = daily_floor  # equity at or below this: the daily-loss breaker
        self._keep = keep  # equity at or below peak * keep: the drawdown breaker
        self._day_end_ns = day_end_ns  # the next UTC day starts here: always a look
        self._look_now = look_now  # equity cannot be valued yet: look at the first tick
        self._slack = SLACK * (abs(base) + abs(peak) + abs(daily_floor) + 1.0)

    def first_alert(self, ts_ns: Sequence[int], price: Sequence[float], lo: int, hi: int,
                    low: float, high: float) -> int:
        """The first tick in [lo, hi) where a mark could trip a breaker or a new day begins;
        `hi` if none. Every price in [lo, hi) is within [`low`, `high`] (the caller has them
        from reading the run: a second pass over it would cost as much as the reading)."""
        if lo >= hi or self._look_now:
            return lo
        if ts_ns[hi - 1] >= self._day_end_ns:
            hi = bisect_left(ts_ns, self._day_end_ns, lo, hi)
        qty = self._qty
        if not qty or lo >= hi:
            return hi
        worst, best = (low, high) if qty > 0 else (high, low)
        slack = self._slack + SLACK * abs(qty) * max(abs(worst), abs(best))
        base = self._base
        if base + qty * worst > self._floor(max(self._peak, base + qty * best)) + slack:
            return hi  # the common case: nowhere near a limit over the whole run
        peak = self._peak
        for i in range(lo, hi):  # close to a limit: tick by tick, with the running peak
            equity = base + qty * price[i]
            if equity > peak:
                peak = equity
            if equity <= self._floor(peak) + slack:
                return i
        return hi

    def peak_tick(self, price: Sequence[float], lo: int, hi: int) -> int:
        """The tick in [lo, hi) where equity is highest, if that may be a new peak; else -1."""
        if not self._qty or lo >= hi:
            return -1
        run = price[lo:hi]
        best = max(run) if self._qty > 0 else min(run)
        return lo + run.index(best) if self.may_raise_peak(best) else -1

    def may_raise_peak_within(self, low: float, high: float) -> bool:
        """Could a price in [`low`, `high`] mark a new equity peak?"""
        return self.may_raise_peak(high if self._qty > 0 else low)

    def may_raise_peak(self, price: float) -> bool:
        qty = self._qty
        if not qty:
            return False
        slack = self._slack + SLACK * abs(qty) * abs(price)
        return self._base + qty * price >= self._peak - slack

    def _floor(self, peak: float) -> float:
        drawdown = peak * self._keep if peak > 0 else float("inf")  # no peak: always trips
        return max(self._daily_floor, drawdown)
