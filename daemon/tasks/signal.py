"""Signal task: tick batches -> bars -> strategy -> intents onto the routing queue.

Intents are handed on at the tick whose bar produced them, and the task waits until routing has
taken them and the broker has acted on them (`settle`) before it reads on: the strategy's next
decision sees those orders and every event they caused so far (on paper, their fills), and on a
replay clock the orders go out at that tick's time, not the batch's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from daemon import log
from daemon.clock import Clock, SteppedClock
from daemon.model import OrderIntent, TickBatch
from daemon.signals import SignalEngine

Settle = Callable[[], Awaitable[None]]


async def run(engine: SignalEngine, inbox: asyncio.Queue[TickBatch],
              outbox: asyncio.Queue[OrderIntent], clock: Clock, settle: Settle) -> None:
    log.bind_task("signal")
    # Wake at least a few times per bar so bars close on time even when no trade arrives.
    idle_s = min(1.0, engine.interval_ns / 4e9)
    advance = clock.advance if isinstance(clock, SteppedClock) else None
    while True:
        if inbox.empty():
            try:
                # Not asyncio.wait_for: on 3.11 it returns a get that completed as the task was
                # cancelled and swallows the cancellation, so a stop could hang the task group.
                async with asyncio.timeout(idle_s):
                    batch = await inbox.get()
            except TimeoutError:
                await _hand_on_all(engine, engine.on_time(clock.now_ns()), outbox, settle)
                continue
        else:
            batch = inbox.get_nowait()
        await _process(engine, batch, outbox, settle, advance)
        inbox.task_done()


async def _process(engine: SignalEngine, batch: TickBatch, outbox: asyncio.Queue[OrderIntent],
                   settle: Settle, advance: Callable[[int, bool], None] | None) -> None:
    n = len(batch.ts_ns)
    pos = 0
    while pos < n or engine.pending:  # bars closed by the last tick may still wait
        intents, pos = engine.on_batch(batch, pos)
        if intents:
            if advance is not None and pos:
                advance(batch.ts_ns[pos - 1], False)  # the tick that closed the acting bar
            await hand_on(intents, outbox, settle)
    if advance is not None:
        advance(batch.recv_ns, False)
    await _hand_on_all(engine, engine.after_batch(batch), outbox, settle)
    if advance is not None:
        # Only now wake the timers (and the replay source's next batch): orders decided on
        # this batch must not meet the next one's prices.
        advance(batch.recv_ns, True)


async def _hand_on_all(engine: SignalEngine, intents: list[OrderIntent],
                       outbox: asyncio.Queue[OrderIntent], settle: Settle) -> None:
    await hand_on(intents, outbox, settle)
    while engine.pending:
        await hand_on(engine.drain(), outbox, settle)


async def hand_on(intents: list[OrderIntent], outbox: asyncio.Queue[OrderIntent],
                  settle: Settle) -> None:
    """Queue the intents, wait until routing has taken every one of them, then until the
    broker has acted on them."""
    if not intents:
        return
    for intent in intents:
        if outbox.full():
            await outbox.put(intent)
        else:
            outbox.put_nowait(intent)
    await outbox.join()
    await settle()
