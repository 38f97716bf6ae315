"""A replay market-data source: recorded (or generated) trades, as fast as the daemon takes them.

Trades come in as column chunks (arrays of ts_ns, price, size; any chunk size, e.g. a file or a
million generated ticks; a chunk boundary must not split the trades of one instant) and go out
as `TickBatch`es of `batch_ticks` trades (more when the trades of one instant would be split),
so one queue hop carries thousands of ticks. Recorded trades carry no quote, so a batch's bid and
ask are its last trade's price; the paper broker's slippage stands for the spread.

The source paces itself on the `ReplayClock`: after yielding a batch it sleeps until the clock
reaches that batch's receipt time (1 ns after its last trade), which happens when the signal
task has read the whole batch and every order it caused went out. The broker, the books and the
strategy therefore see the market move as a feed delivering trade by trade would have moved it,
however large the batch.
When the data runs out `stream()` returns, and the daemon treats that as a stop: flatten, exit.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

from daemon.clock import ReplayClock
from daemon.model import TickBatch

# One chunk of trades: parallel columns of ts_ns, price and size, each a numpy array or a list
# (anything with len() and slicing; numpy's slicing does not type-check as a Sequence).
Columns = tuple[Any, Any, Any]
DEFAULT_BATCH_TICKS = 5000


def _as_column(column: Any) -> Sequence[Any]:
    """A numpy column as a flat `array` (one memcpy); anything else as a list. Not a list of
    5,000 Python floats: making those at every batch flushed the CPU caches the next bar's
    decision needed (+10 us on the first order of each batch)."""
    dtype = getattr(column, "dtype", None)
    if dtype is not None and dtype.kind in "iuf":
        return array("q" if dtype.kind in "iu" else "d", column.astype(
            "int64" if dtype.kind in "iu" else "float64", copy=False).tobytes())
    return list(column)


class ReplaySource:
    """Implements `MarketDataSource` for one instrument. `on_batch(ticks_done)` is called after
    each batch the daemon has processed (progress bars, RSS sampling)."""

    def __init__(self, symbol: str, chunks: Iterable[Columns], clock: ReplayClock,
                 batch_ticks: int = DEFAULT_BATCH_TICKS,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if batch_ticks <= 0:
            raise ValueError("batch_ticks must be positive")
        self.symbol = symbol
        self._clock = clock
        self._batch_ticks = batch_ticks
        self._on_batch = on_batch
        self._batches = self._slice(chunks)
        self._first = next(self._batches, None)
        self.ticks_done = 0
        self.batches_done = 0
        if self._first is not None:
            clock.advance(self._first.ts_ns[0])  # the replay starts at its first trade

    @property
    def path(self) -> str:
        return "replay"

    async def run(self) -> None:
        return None  # no background I/O: the data is already here

    async def close(self) -> None:
        return None

    async def stream(self) -> AsyncIterator[TickBatch]:
        # State lives on the object: after the data ran out a second `stream()` (the flatten's)
        # yields nothing and returns.
        while True:
            batch = self._first if self._first is not None else next(self._batches, None)
            self._first = None
            if batch is None:
                return
            yield batch
            await self._clock.sleep_until(batch.recv_ns)
            self.ticks_done += len(batch.ts_ns)
            self.batches_done += 1
            if self._on_batch is not None:
                self._on_batch(self.ticks_done)

    def _slice(self, chunks: Iterable[Columns]) -> Iterator[TickBatch]:
        size = self._batch_ticks
        for ts_col, price_col, size_col in chunks:
            n = len(ts_col)
            if not len(price_col) == len(size_col) == n:
                raise ValueError("replay chunk columns must have the same length")
            lo = 0
            while lo < n:
                hi = min(lo + size, n)
                if hi < n and ts_col[hi] == ts_col[hi - 1]:
                    # Trades of one instant arrive together: a batch never splits them, or an
                    # order acted on at that instant would be stamped at the batch's receipt.
                    hi = bisect_right(ts_col, ts_col[hi - 1], hi, n)
                ts = _as_column(ts_col[lo:hi])
                price = _as_column(price_col[lo:hi])
                last = price[-1]
                # Received 1 ns after its last trade, as a live batch is received after its
                # trades: an order at a trade's own time (a bar closing on it) and one at the
                # batch's end then never share a timestamp.
                yield TickBatch(self.symbol, ts, price, _as_column(size_col[lo:hi]), last, last,
                                ts[-1] + 1)
                lo = hi
