"""Market data task: source -> marks -> broker -> signal queue, one hop per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from daemon.book.inventory import InventoryManager
from daemon.model import TickBatch
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.venues.base import Broker, MarketDataSource


async def run(source: MarketDataSource, inventory: InventoryManager, broker: Broker,
              metrics: Metrics, out: asyncio.Queue[TickBatch] | None,
              walked: bool = False,
              volume: Callable[[str, float], None] | None = None) -> None:
    """`out` is None during the flatten: prices still flow to the books and broker, not on.
    `walked`: a replay's signal task marks the books tick by tick as it reads (`MarketWalk`);
    marking them here at the batch's last trade would show it the future. `volume(symbol,
    traded)`: each batch's traded volume (the POV algorithm's base)."""
    log.bind_task("market_data")
    metrics.set_data_path(source.path)
    # The source's own I/O (sockets, pollers) lives and dies with this task.
    async with asyncio.TaskGroup() as tg:
        tg.create_task(source.run(), name="market_data_io")
        await _consume(source, inventory, broker, metrics, out, walked, volume)


async def _consume(source: MarketDataSource, inventory: InventoryManager, broker: Broker,
                   metrics: Metrics, out: asyncio.Queue[TickBatch] | None,
                   walked: bool, volume: Callable[[str, float], None] | None) -> None:
    messages = metrics.md_messages.labels("trade")
    async for batch in source.stream():
        if batch.ts_ns:
            if not walked:
                inventory.mark(batch.symbol, batch.price[-1], batch.ts_ns[-1])
            messages.inc(len(batch.ts_ns))
            if volume is not None:
                volume(batch.symbol, sum(batch.size))
        if not walked:
            inventory.quote(batch.symbol, batch.bid, batch.ask)
        if batch.gap_before:
            metrics.md_gaps.inc()
        await broker.on_market(batch)
        if out is not None:
            await out.put(batch)
    await broker.market_ended()  # a live source ends only when stopped: then nothing waits
