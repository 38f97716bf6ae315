"""A replay file's own past as history: the trades before `--start` make the warm-up bars.

`tradingd replay --start T` (and `tradingd backtest --start T`) trade only the ticks at or after
T; the ticks before it become this `HistorySource`, which builds the strategy's `warmup_bars`
from them with the daemon's own `BarAggregator`, as the signal task would have built them live
(the same epoch-aligned grid, a flat bar at the last close for an interval without trades). So
the first bar after the start already has its history behind it, and fills and PnL count from
the start only. A start inside a bar: the trades of that bar before the start are history, and
the bar the replay builds from there on holds only the trades at or after the start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from daemon.features import BarAggregator
from daemon.model import Bar

NS = 1_000_000_000


def parse_start(text: str) -> int:
    """An ISO 8601 time (`2024-01-02T00:00Z`; without a zone, UTC) as epoch nanoseconds;
    `ValueError` names what is wrong."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start {text!r}: not an ISO 8601 time like 2024-01-02T00:00Z"
                         ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp())
    return seconds * NS + when.microsecond * 1000


class ReplayHistory:
    """Implements `HistorySource` from recorded trades of one instrument (columns sorted by
    time, all before the replay's start)."""

    def __init__(self, symbol: str, ts_ns: Any, price: Any, size: Any) -> None:
        self.symbol = symbol
        self._ts = np.asarray(ts_ns, dtype=np.int64)
        self._price = np.asarray(price, dtype=np.float64)
        self._size = np.asarray(size, dtype=np.float64)

    @property
    def ticks(self) -> int:
        return len(self._ts)

    async def bars(self, symbol: str, interval_s: int, count: int, end_ns: int) -> list[Bar]:
        if symbol != self.symbol:
            raise LookupError(f"the replay file has no history of {symbol}")
        interval_ns = interval_s * NS
        end_ns = end_ns // interval_ns * interval_ns  # the bar now forming is not history
        first_ns = end_ns - count * interval_ns
        # From the last trade before the window: the bar it closes is dropped, but its close is
        # what the window's leading intervals without trades stay flat at.
        lo = max(0, int(np.searchsorted(self._ts, first_ns, "left")) - 1)
        hi = int(np.searchsorted(self._ts, end_ns, "left"))
        ts, price, size = (a[lo:hi].tolist() for a in (self._ts, self._price, self._size))
        agg = BarAggregator(symbol, interval_ns)
        out: list[Bar] = []
        i = 0
        while i < len(ts):
            closed, i = agg.on_columns(ts, price, size, i)
            out.extend(closed or ())
        out.extend(agg.on_time(end_ns) or ())
        return [b for b in out if b.start_ns >= first_ns and b.end_ns <= end_ns][-count:]


def split_at(symbol: str, ts_ns: Any, price: Any, size: Any, start_ns: int
             ) -> tuple[tuple[Any, Any, Any], ReplayHistory]:
    """The columns to replay (ticks at or after `start_ns`) and the history before them."""
    cut = int(np.searchsorted(ts_ns, start_ns, "left"))
    return ((ts_ns[cut:], price[cut:], size[cut:]),
            ReplayHistory(symbol, ts_ns[:cut], price[:cut], size[:cut]))
