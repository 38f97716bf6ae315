"""Streaming feature operators: each does O(1) work per value and keeps O(window) memory.

The building block is an operator with `on_tick(value) -> result`; operators compose by feeding
one's result to the next, as in the seed code this project grew from. Prices here are floats:
features are statistics, not money.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import MutableSequence, Sequence
from typing import Generic, TypeVar

from daemon.model import Bar

T = TypeVar("T")


class RingWindow(Generic[T]):
    """A fixed-capacity sliding window over a preallocated list.

    A push overwrites the oldest slot instead of shifting the array, so it costs the same at any
    capacity (the seed's numpy window shifted every element on every tick).
    """

    __slots__ = ("_buf", "_capacity", "_head", "_size")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._buf: list[T | None] = [None] * capacity
        self._head = 0  # the slot the next value goes into
        self._size = 0

    def on_tick(self, val: T) -> T | None:
        """Append a value; return the value that fell out of the window, if any."""
        dropped = self._buf[self._head] if self._size == self._capacity else None
        self._buf[self._head] = val
        self._head = (self._head + 1) % self._capacity
        if self._size < self._capacity:
            self._size += 1
        return dropped

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        return self._capacity

    def is_full(self) -> bool:
        return self._size == self._capacity

    def newest(self, k: int = 0) -> T:
        """The k-th newest value: 0 is the latest."""
        if not 0 <= k < self._size:
            raise IndexError(k)
        value = self._buf[(self._head - 1 - k) % self._capacity]
        assert value is not None
        return value

    def newest_first(self) -> list[T]:
        return [self.newest(k) for k in range(self._size)]

    def oldest_first(self) -> list[T]:
        return self.newest_first()[::-1]


class LogReturn:
    """log(p_t / p_{t-1}); None for the first value. Prices are positive (checked upstream)."""

    __slots__ = ("_prev",)

    def __init__(self) -> None:
        self._prev: float | None = None

    def on_tick(self, price: float) -> float | None:
        prev, self._prev = self._prev, price
        return None if prev is None else math.log(price / prev)


class Lags:
    """The last n values, newest first, once n have been seen."""

    __slots__ = ("_window",)

    def __init__(self, n: int) -> None:
        self._window: RingWindow[float] = RingWindow(n)

    def on_tick(self, val: float) -> list[float] | None:
        self._window.on_tick(val)
        return self._window.newest_first() if self._window.is_full() else None

    def copy_into(self, out: MutableSequence[float]) -> bool:
        """Write the lags newest first into a caller's buffer (a list, a numpy row); False until
        the window is full."""
        if not self._window.is_full():
            return False
        for k in range(self._window.capacity):
            out[k] = self._window.newest(k)
        return True


class LogReturnLags:
    """The last n log returns of a price series, newest first (AR model features)."""

    __slots__ = ("_lags", "_log_return")

    def __init__(self, n: int) -> None:
        self._log_return = LogReturn()
        self._lags = Lags(n)

    def on_tick(self, price: float) -> list[float] | None:
        r = self._log_return.on_tick(price)
        return None if r is None else self._lags.on_tick(r)

    def push(self, price: float) -> bool:
        """Take a price without building the lag list; True once n returns are known."""
        r = self._log_return.on_tick(price)
        if r is None:
            return False
        window = self._lags._window
        window.on_tick(r)
        return window.is_full()

    def copy_into(self, out: MutableSequence[float]) -> bool:
        return self._lags.copy_into(out)


# A clock jump of hours on second bars would otherwise emit tens of thousands of empty bars.
MAX_EMPTY_BARS = 1000


class BarAggregator:
    """OHLCV bars over fixed intervals aligned to the epoch: bar k covers [k*I, (k+1)*I).

    A bar closes when a tick of a later interval arrives or when `on_time` sees the interval end.
    Intervals with no trades become flat bars at the previous close (volume 0), so the series
    stays evenly spaced. A tick older than the open bar is ignored: ordering is the feed's job.
    """

    __slots__ = ("_bucket", "_c", "_gap", "_h", "_interval_ns", "_l", "_n", "_o", "_symbol", "_v",
                 "run_high", "run_low")

    def __init__(self, symbol: str, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError("interval must be positive")
        self._symbol = symbol
        self._interval_ns = interval_ns
        self._bucket: int | None = None
        self._o = self._h = self._l = self._c = self._v = 0.0
        self._n = 0
        self._gap = False
        self.run_low = math.inf  # the price range the last `on_columns` read
        self.run_high = -math.inf

    @property
    def interval_ns(self) -> int:
        return self._interval_ns

    def mark_gap(self) -> None:
        """The feed lost data: the bar now open will say so."""
        self._gap = True

    def on_tick(self, ts_ns: int, price: float, size: float) -> list[Bar] | None:
        bucket = ts_ns // self._interval_ns
        if bucket == self._bucket and self._n:
            if price > self._h:
                self._h = price
            elif price < self._l:
                self._l = price
            self._c = price
            self._v += size
            self._n += 1
            return None
        if self._bucket is not None and bucket < self._bucket:
            return None
        # A bar opened by `on_time` has no trade yet: its first trade sets the open, not a close.
        opened_empty = bucket == self._bucket
        closed = None if self._bucket is None or opened_empty else self._close_through(bucket)
        self._bucket = bucket
        self._o = self._h = self._l = self._c = price
        self._v = size
        self._n = 1
        return closed

    def next_close(self, ts_ns: Sequence[int], start: int, end: int) -> int:
        """The index of the first tick in [start, end) that would close a bar, or `end`: where
        a caller must bring the books up to date before `on_columns` reads that tick."""
        if start >= end:
            return end
        bucket = self._bucket
        if bucket is None:  # the first tick opens the first bar; a later interval closes it
            bucket = ts_ns[start] // self._interval_ns
            start += 1
        return bisect_left(ts_ns, (bucket + 1) * self._interval_ns, start, end)

    def on_columns(self, ts_ns: Sequence[int], price: Sequence[float], size: Sequence[float],
                   start: int, end: int = -1) -> tuple[list[Bar] | None, int]:
        """Consume a batch's columns from `start` up to the first tick that closes a bar, reading
        no further than `end` (default: the whole batch).

        Returns the bars that tick closed and the index after it, or `(None, end)` when the
        range ends inside the open bar, so the caller can act on a bar at the very tick that
        closed it and then resume. `ts_ns` must be non-decreasing (the `TickBatch` contract).
        Same results as `on_tick` per tick, but a run of ticks inside the open bar costs one
        `bisect` and C-level `max`/`min`/`sum` over slices instead of a Python loop per tick.
        `run_low`/`run_high` are then the lowest and highest price it read (late trades too), so
        a replay's walk can screen the run without a second pass over it.
        """
        n = len(ts_ns) if end < 0 else end
        i = start
        interval = self._interval_ns
        run_low, run_high = math.inf, -math.inf
        while i < n:
            bucket = self._bucket
            if bucket is None or not self._n or ts_ns[i] // interval != bucket:
                # Opens, closes or is late: the per-tick rules decide.
                p = price[i]
                if p < run_low:
                    run_low = p
                if p > run_high:
                    run_high = p
                bars = self.on_tick(ts_ns[i], p, size[i])
                i += 1
                if bars is not None:
                    self.run_low, self.run_high = run_low, run_high
                    return bars, i
                continue
            j = bisect_left(ts_ns, (bucket + 1) * interval, i, n)
            run = price[i:j]
            high, low = max(run), min(run)
            if high > self._h:
                self._h = high
            if low < self._l:
                self._l = low
            if high > run_high:
                run_high = high
            if low < run_low:
                run_low = low
            self._c = run[-1]
            # sum() with a float start adds left to right, exactly as per-tick `+=` would.
            self._v = sum(size[i:j], self._v)
            self._n += j - i
            i = j
        self.run_low, self.run_high = run_low, run_high
        return None, n

    def on_time(self, now_ns: int) -> list[Bar] | None:
        """Close every interval that ended at or before `now_ns`."""
        if self._bucket is None:
            return None
        bucket = now_ns // self._interval_ns
        if bucket <= self._bucket:
            return None
        closed = self._close_through(bucket)
        # The interval `bucket` is open but has no trade yet: it starts flat at the last close.
        self._bucket = bucket
        self._o = self._h = self._l = self._c = closed[-1].close
        self._v = 0.0
        self._n = 0
        return closed

    def _close_through(self, next_bucket: int) -> list[Bar]:
        """Emit the open bar and flat bars for the empty intervals before `next_bucket`."""
        assert self._bucket is not None
        start = self._bucket * self._interval_ns
        bars = [self._bar(start, self._o, self._h, self._l, self._c, self._v, self._n, self._gap)]
        self._gap = False
        empties = next_bucket - self._bucket - 1
        if empties > MAX_EMPTY_BARS:
            empties = MAX_EMPTY_BARS
            self._gap = True  # the bars we skip emitting are missing data to whoever reads on
        c = self._c
        first_empty = next_bucket - empties
        for b in range(first_empty, next_bucket):
            bars.append(self._bar(b * self._interval_ns, c, c, c, c, 0.0, 0, False))
        return bars

    def _bar(self, start: int, o: float, h: float, lo: float, c: float, v: float, n: int,
             gap: bool) -> Bar:
        return Bar(self._symbol, start, start + self._interval_ns, o, h, lo, c, v, n, gap)
