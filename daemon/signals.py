"""The signal engine: turns tick batches into bars and the strategy's decisions into intents.

One bar aggregator per traded instrument; bars close on the first tick of a later interval or
when the clock passes the interval's end, whichever comes first, so a quiet market still closes
bars on time.

A batch may hold many bars. `on_batch` stops at the tick whose bar made the strategy act and
says where to resume: the caller hands that decision on before reading further, so the next
decision sees its outcome and the orders go out as of that tick, as if trades had arrived one
by one. Bars that make no decision cost no stop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from daemon.clock import Clock
from daemon.features import BarAggregator
from daemon.inventory import InventoryView
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

    @property
    def interval_ns(self) -> int:
        return self._strategy.bar_interval_ns

    @property
    def pending(self) -> bool:
        """Closed bars wait for the strategy: hand the last decision on, then call `drain`."""
        return bool(self._pending)

    def on_batch(self, batch: TickBatch, start: int = 0) -> tuple[Decision | None, int]:
        """Read ticks from `start` until a closed bar makes the strategy act or the batch ends.

        Returns the decision and the index to resume from; it was made at tick `resume - 1`.
        `(None, len)` means the batch is done; then call `after_batch`.
        """
        decision = self.drain()
        n = len(batch.ts_ns)
        agg = self._bars.get(batch.symbol)
        if decision is not None or agg is None:
            return decision, start if decision is not None else n
        if start == 0 and batch.gap_before:
            agg.mark_gap()
        ts_ns, price, size = batch.ts_ns, batch.price, batch.size
        pos = start
        while pos < n:
            bars, pos = agg.on_columns(ts_ns, price, size, pos)
            if bars is not None:
                self._closed(bars)
                decision = self.drain()
                if decision is not None:
                    return decision, pos
        return None, n

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
