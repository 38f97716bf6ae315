"""`tradingd data fetch`: candles or trades from a venue through ccxt, page by page.

Resumable: the dataset on disk says where the last run stopped, and only what is missing is
asked for; each page is written as it arrives (atomically), so an interrupted fetch keeps what
it had. The client is the daemon's own (`make_exchange` from `[exchange]`: id, URLs, options,
sandbox; ccxt's throttle keeps us inside the venue's rate limit); a 429 or a network error is
retried with jittered backoff, honouring `Retry-After`, and resumes from the same page.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from tqdm import tqdm

from daemon.ops import log
from daemon.research import datasets
from daemon.retry import backoff_s
from daemon.venues.ccxt.client import ErrorKind, classify, retry_after_s

_log = log.get("data")
T = TypeVar("T")
MAX_ATTEMPTS = 8
PAGE = 1000  # Binance's largest klines / trades page


@dataclass(frozen=True)
class Fetched:
    path: Path
    rows_added: int
    rows_total: int
    gaps: list[datasets.Gap]


async def _call(what: str, call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await call()
        except Exception as err:
            kind = classify(err)
            if kind not in (ErrorKind.RATE_LIMIT, ErrorKind.AMBIGUOUS) or (
                    attempt == MAX_ATTEMPTS - 1):
                raise
            pause = retry_after_s(err) or backoff_s(attempt, 0.5, 30.0, floor_s=0.1)
            _log.warning("data.retry", call=what, error=type(err).__name__, pause_s=pause)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def candles(exchange: Any, symbol: str, timeframe: str, since_ms: int,
                  until_ms: int | None, path: Path, progress: bool = True) -> Fetched:
    tf_ms = datasets.TIMEFRAME_MS[timeframe]
    table = datasets.existing(path, tf_ms)
    start = since_ms
    if table.num_rows:
        start = max(start, int(table.column("open_time_ms")[-1].as_py()) + tf_ms)
    end = until_ms if until_ms is not None else exchange.milliseconds()
    added = 0
    with tqdm(total=max(0, (end - start) // tf_ms), unit="candle", disable=not progress,
              desc=f"{symbol} {timeframe}") as bar:
        while start < end:
            page: Callable[[], Awaitable[list[list[Any]]]] = functools.partial(
                exchange.fetch_ohlcv, symbol, timeframe, since=start, limit=PAGE)
            rows = await _call("fetch_ohlcv", page)
            rows = [r for r in rows if start <= r[0] < end]
            if not rows:
                break
            table = pa.concat_tables([table, datasets.candles_table(rows)])
            datasets.write(path, table, tf_ms)
            added += len(rows)
            bar.update(len(rows))
            start = int(rows[-1][0]) + tf_ms
    gaps = datasets.validate(table, tf_ms)
    for gap in gaps:
        _log.warning("data.gap", after_ms=gap.after_ms, before_ms=gap.before_ms,
                     missing=gap.missing)
    return Fetched(path, added, table.num_rows, gaps)


async def trades(exchange: Any, symbol: str, since_ms: int, until_ms: int | None, path: Path,
                 progress: bool = True) -> Fetched:
    """Public trades, paged by trade id after the first page (by time): a page boundary never
    splits or repeats the trades of one millisecond."""
    table = datasets.existing(path, None)
    last_id = int(table.column("id")[-1].as_py()) if table.num_rows else None
    end = until_ms if until_ms is not None else exchange.milliseconds()
    added = 0
    with tqdm(unit="trade", disable=not progress, desc=f"{symbol} trades") as bar:
        while True:
            params = {} if last_id is None else {"fromId": last_id + 1}
            page: Callable[[], Awaitable[list[dict[str, Any]]]] = functools.partial(
                exchange.fetch_trades, symbol, since=None if last_id is not None else since_ms,
                limit=PAGE, params=params)
            rows = [t for t in await _call("fetch_trades", page)
                    if t["timestamp"] < end and (last_id is None or int(t["id"]) > last_id)]
            if not rows:
                break
            table = pa.concat_tables([table, datasets.trades_table(rows)])
            datasets.write(path, table, None)
            added += len(rows)
            bar.update(len(rows))
            last_id = int(rows[-1]["id"])
    return Fetched(path, added, table.num_rows, [])
