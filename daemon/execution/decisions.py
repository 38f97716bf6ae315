"""The signal engine: turns tick batches into bars and the strategy's decisions into intents.

One bar aggregator per traded instrument; bars close on the first tick of a later interval or
when the clock passes the interval's end, whichever comes first, so a quiet market still closes
bars on time.

A batch may hold many bars. `next_close` says at which tick the next bar closes and `read` stops
right after it, so the caller can bring the books to that tick first and hand the strategy's
decision on before reading further: the next decision sees its outcome and the orders go out as
of that tick, as if trades had arrived one by one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from daemon.book.inventory import InventoryView
from daemon.clock import Clock
from daemon.features import BarAggregator
from daemon.model import Bar, Decision, TickBatch
from strategies.base import Strategy


class SignalEngine:
    def __init__(self, strategy: Strategy[Any], view: InventoryView, clock: Clock) -> None:
        self._strategy = strategy
        self._view = view
        self._clock = clock
        interval = strategy.bar_interval_ns
        self._bars = {s: BarAggregator(s, interval) for s in strategy.symbols}
        # Closed bars the strategy has not seen yet: one tick can close several (a gap in the
        # data), and each must see what the previous one's orders did.
        self._pending: deque[tuple[Bar, int]] = deque()
        self.bars_closed = 0
        self.run_low = math.inf
        self.run_high = -math.inf

    @property
    def interval_ns(self) -> int:
        return self._strategy.bar_interval_ns

    @property
    def pending(self) -> bool:
        """Closed bars wait for the strategy: hand the last decision on, then call `drain`."""
        return bool(self._pending)

    def next_close(self, batch: TickBatch, start: int, end: int) -> int:
        """The first tick in [start, end) that closes a bar of the batch's instrument, or `end`.
        The caller brings the books to that tick before `read` shows the bar to the strategy."""
        agg = self._bars.get(batch.symbol)
        return end if agg is None else agg.next_close(batch.ts_ns, start, end)

    def read(self, batch: TickBatch, start: int, end: int) -> int:
        """Read ticks [start, end) into the open bars until one closes bars; those wait in
        `pending` for `drain`. Returns the index after that tick, or `end`. `run_low` and
        `run_high` are then the price range read (low > high: none, or not a traded symbol)."""
        agg = self._bars.get(batch.symbol)
        if agg is None:
            self.run_low, self.run_high = math.inf, -math.inf
            return end
        if start == 0 and batch.gap_before:
            agg.mark_gap()
        bars, pos = agg.on_columns(batch.ts_ns, batch.price, batch.size, start, end)
        self.run_low, self.run_high = agg.run_low, agg.run_high
        if bars is not None:
            self._closed(bars)
        return pos

    def after_batch(self, batch: TickBatch) -> Decision | None:
        """Once every tick is read: the strategy's look at the whole batch (no bar behind it,
        so no bar-to-order latency). Then hand it on and call `on_time` with the batch's time."""
        intents = list(self._strategy.on_ticks(batch, self._view))
        return Decision(intents) if intents else None

    def on_time(self, now_ns: int) -> Decision | None:
        for agg in self._bars.values():
            bars = agg.on_time(now_ns)
            if bars is not None:
                self._closed(bars)
        return self.drain()

    def drain(self) -> Decision | None:
        """Show the strategy pending bars until one makes it act; return that decision."""
        pending = self._pending
        while pending:
            bar, closed_mono_ns = pending.popleft()
            self.bars_closed += 1
            intents = self._strategy.on_bar(bar, self._view)
            if intents:
                return Decision(list(intents), closed_mono_ns)
        return None

    def _closed(self, bars: Sequence[Bar]) -> None:
        # Stamped once the bar is closed, before the strategy runs: the bar-to-order latency
        # covers the strategy, the gate and the hand-off to the broker.
        closed_mono_ns = self._clock.monotonic_ns()
        self._pending.extend((bar, closed_mono_ns) for bar in bars)
