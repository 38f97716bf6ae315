"""Fill handling task: broker events -> the journal, then the inventory manager's books
(`execution.booking`), one event at a time, in the order the broker reports them; then, once
booked, to `observe` (the signal engine: the strategy's own order events)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from daemon.book.inventory import InventoryManager
from daemon.events import BrokerEvent, MarkPriced
from daemon.execution.booking import book
from daemon.journal.base import OrderJournal
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.venues.base import Broker


async def run(broker: Broker, inventory: InventoryManager, metrics: Metrics,
              journal: OrderJournal,
              observe: Callable[[BrokerEvent], None] | None = None,
              on_venue_mark: Callable[[str], None] | None = None) -> None:
    """`observe`: told of each event new to the books (the strategy's order events);
    `on_venue_mark(symbol)`: after each venue mark price is booked (swaps: the liquidation
    breaker)."""
    log.bind_task("fills")
    # The broker's venue streams (user-data websocket, REST polls) live with this task.
    async with asyncio.TaskGroup() as tg:
        tg.create_task(broker.run(), name="broker_io")
        events = broker.events
        while True:
            event = await events.get()
            try:
                if await book(event, inventory, metrics, journal) and observe is not None:
                    observe(event)
                if on_venue_mark is not None and isinstance(event, MarkPriced):
                    on_venue_mark(event.symbol)
            finally:
                events.task_done()  # `Daemon.settled` waits for this
