"""The signal engine: turns tick batches into bars and the strategy's decisions into intents.

One bar aggregator per traded instrument; bars close on the first tick of a later interval or
when the clock passes the interval's end, whichever comes first, so a quiet market still closes
bars on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.features import BarAggregator
from daemon.inventory import InventoryView
from daemon.model import Bar, OrderIntent, TickBatch
from strategies.base import Strategy


class SignalEngine:
    def __init__(self, strategy: Strategy[Any], view: InventoryView) -> None:
        self._strategy = strategy
        self._view = view
        interval = strategy.bar_interval_ns
        self._bars = {s: BarAggregator(s, interval) for s in strategy.symbols}
        self.bars_closed = 0

    @property
    def interval_ns(self) -> int:
        return self._strategy.bar_interval_ns

    def on_batch(self, batch: TickBatch) -> list[OrderIntent]:
        intents: list[OrderIntent] = []
        agg = self._bars.get(batch.symbol)
        if agg is not None:
            if batch.gap_before:
                agg.mark_gap()
            on_tick = agg.on_tick
            for ts_ns, price, size in zip(batch.ts_ns, batch.price, batch.size, strict=True):
                bars = on_tick(ts_ns, price, size)
                if bars is not None:
                    self._on_bars(bars, intents)
        tick_intents = self._strategy.on_ticks(batch, self._view)
        if tick_intents:
            intents.extend(tick_intents)
        return intents

    def on_time(self, now_ns: int) -> list[OrderIntent]:
        intents: list[OrderIntent] = []
        for agg in self._bars.values():
            bars = agg.on_time(now_ns)
            if bars is not None:
                self._on_bars(bars, intents)
        return intents

    def _on_bars(self, bars: Sequence[Bar], out: list[OrderIntent]) -> None:
        for bar in bars:
            self.bars_closed += 1
            out.extend(self._strategy.on_bar(bar, self._view))
