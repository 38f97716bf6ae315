"""Signal task: tick batches -> bars -> strategy -> intents onto the routing queue."""

from __future__ import annotations

import asyncio

from daemon import log
from daemon.clock import Clock
from daemon.model import OrderIntent, TickBatch
from daemon.signals import SignalEngine


async def run(engine: SignalEngine, inbox: asyncio.Queue[TickBatch],
              outbox: asyncio.Queue[OrderIntent], clock: Clock) -> None:
    log.bind_task("signal")
    # Wake at least a few times per bar so bars close on time even when no trade arrives.
    idle_s = min(1.0, engine.interval_ns / 4e9)
    while True:
        try:
            # Not asyncio.wait_for: on 3.11 it returns a get that completed as the task was
            # cancelled and swallows the cancellation, so a stop could hang the task group.
            async with asyncio.timeout(idle_s):
                batch = await inbox.get()
        except TimeoutError:
            intents = engine.on_time(clock.now_ns())
        else:
            intents = engine.on_batch(batch)
            intents.extend(engine.on_time(batch.recv_ns))
        for intent in intents:
            await outbox.put(intent)
