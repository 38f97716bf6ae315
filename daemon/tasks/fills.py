"""Fill handling task: broker events -> the journal, then the inventory manager's books
(`execution.booking`), one event at a time, in the order the broker reports them; then, once
booked, to `observe` (the signal engine: the strategy's own order events)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from daemon.book.inventory import InventoryManager
from daemon.events import BrokerEvent
from daemon.execution.booking import book
from daemon.journal.base import OrderJournal
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.venues.base import Broker


async def run(broker: Broker, inventory: InventoryManager, metrics: Metrics,
              journal: OrderJournal,
              observe: Callable[[BrokerEvent], None] | None = None) -> None:
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
            finally:
                events.task_done()  # `Daemon.settled` waits for this
