"""Market data task: source -> marks -> broker -> signal queue, one hop per batch."""

from __future__ import annotations

import asyncio

from daemon import log
from daemon.broker.base import Broker
from daemon.inventory import InventoryManager
from daemon.marketdata.base import MarketDataSource
from daemon.metrics import Metrics
from daemon.model import TickBatch


async def run(source: MarketDataSource, inventory: InventoryManager, broker: Broker,
              metrics: Metrics, out: asyncio.Queue[TickBatch] | None) -> None:
    """`out` is None during the flatten: prices still flow to the books and broker, not on."""
    log.bind_task("market_data")
    metrics.set_data_path(source.path)
    messages = metrics.md_messages.labels("trade")
    async for batch in source.stream():
        if batch.ticks:
            last = batch.ticks[-1]
            inventory.mark(batch.symbol, last.price, last.ts_ns)
            messages.inc(len(batch.ticks))
        inventory.quote(batch.symbol, batch.bid, batch.ask)
        if batch.gap_before:
            metrics.md_gaps.inc()
        await broker.on_market(batch)
        if out is not None:
            await out.put(batch)
