"""Closed bars from the exchange's candles (`fetch_ohlcv`), for a strategy's warm-up.

The bar interval must be one of the venue's timeframes (ccxt's `timeframes`); candles are paged
by time, `PAGE` at a time, through the public client (whose ccxt rate limiter spaces the calls),
and each call has the exchange's timeout. A candle still forming is never returned. Every
failure raises: the caller logs it and the strategy warms up on live bars.
"""

from __future__ import annotations

from typing import Any

from daemon.model import Bar
from daemon.venues.ccxt.client import MalformedReply

PAGE = 1000
NS_PER_MS = 1_000_000


class NoSuchTimeframe(Exception):
    """The venue has no candles of the bar interval asked for."""


class CcxtHistory:
    def __init__(self, exchange: Any) -> None:
        self._ex = exchange

    def timeframe(self, interval_s: int) -> str:
        for name in getattr(self._ex, "timeframes", None) or {}:
            try:
                if int(self._ex.parse_timeframe(name)) == interval_s:
                    return str(name)
            except Exception:  # a venue-specific name ccxt cannot parse: not ours
                continue
        raise NoSuchTimeframe(f"no {interval_s}s candles on {self._ex.id}")

    async def bars(self, symbol: str, interval_s: int, count: int, end_ns: int) -> list[Bar]:
        timeframe = self.timeframe(interval_s)
        interval_ms = interval_s * 1000
        # Closed bars end on the grid: from an `end_ns` inside a bar, a `since` off the grid
        # would skip the first bar (the venue serves candles opening at or after it).
        end_ms = end_ns // NS_PER_MS // interval_ms * interval_ms
        since = end_ms - count * interval_ms
        rows: dict[int, list[Any]] = {}
        while since < end_ms:
            page = await self._ex.fetch_ohlcv(symbol, timeframe, since=since,
                                              limit=min(PAGE, count))
            if not isinstance(page, list):
                raise MalformedReply("fetch_ohlcv: not a list")
            fresh = [r for r in page if _row(r) and since <= r[0] < end_ms]
            if not fresh:
                break
            for r in fresh:
                rows[int(r[0])] = r
            since = int(fresh[-1][0]) + interval_ms
        closed = [rows[t] for t in sorted(rows) if t + interval_ms <= end_ms]
        return [_bar(symbol, r, interval_ms) for r in closed[-count:]]


def _row(r: Any) -> bool:
    return (isinstance(r, list) and len(r) >= 6 and isinstance(r[0], int)
            and all(isinstance(x, int | float) and x == x for x in r[1:6]))


def _bar(symbol: str, r: list[Any], interval_ms: int) -> Bar:
    start = int(r[0]) * NS_PER_MS
    return Bar(symbol, start, start + interval_ms * NS_PER_MS, float(r[1]), float(r[2]),
               float(r[3]), float(r[4]), float(r[5]), 0)
