"""Signal task: tick batches -> bars -> strategy -> decisions onto the routing queue.

A decision is handed on at the tick whose bar produced it, and the task waits until routing has
taken it and the broker has acted on its orders (`settle`) before it reads on: the strategy's
next decision sees those orders and every event they caused so far (on paper, their fills), and
on a replay clock the orders go out at that tick's time, not the batch's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from daemon import log
from daemon.clock import Clock, stepper
from daemon.handoff import Handoff
from daemon.model import Decision, TickBatch
from daemon.signals import SignalEngine

Settle = Callable[[], Awaitable[None]]


async def run(engine: SignalEngine, inbox: asyncio.Queue[TickBatch],
              outbox: Handoff[Decision], clock: Clock, settle: Settle) -> None:
    log.bind_task("signal")
    # Wake at least a few times per bar so bars close on time even when no trade arrives.
    idle_s = min(1.0, engine.interval_ns / 4e9)
    stepped = stepper(clock)
    advance = None if stepped is None else stepped.advance
    while True:
        if inbox.empty():
            try:
                # Not asyncio.wait_for: on 3.11 it returns a get that completed as the task was
                # cancelled and swallows the cancellation, so a stop could hang the task group.
                async with asyncio.timeout(idle_s):
                    batch = await inbox.get()
            except TimeoutError:
                await hand_on(engine.on_time(clock.now_ns()), outbox, settle)
                await _hand_on_pending(engine, outbox, settle)
                continue
        else:
            batch = inbox.get_nowait()
        await _process(engine, batch, outbox, settle, advance)
        inbox.task_done()


async def _process(engine: SignalEngine, batch: TickBatch, outbox: Handoff[Decision],
                   settle: Settle, advance: Callable[[int, bool], None] | None) -> None:
    n = len(batch.ts_ns)
    pos = 0
    while pos < n or engine.pending:  # bars closed by the last tick may still wait
        decision, pos = engine.on_batch(batch, pos)
        if decision is not None:
            if advance is not None and pos:
                advance(batch.ts_ns[pos - 1], False)  # the tick that closed the acting bar
            await hand_on(decision, outbox, settle)
    if advance is not None:
        advance(batch.recv_ns, False)
    await hand_on(engine.after_batch(batch), outbox, settle)
    await hand_on(engine.on_time(batch.recv_ns), outbox, settle)
    await _hand_on_pending(engine, outbox, settle)
    if advance is not None:
        # Only now wake the timers (and the replay source's next batch): orders decided on
        # this batch must not meet the next one's prices.
        advance(batch.recv_ns, True)


async def _hand_on_pending(engine: SignalEngine, outbox: Handoff[Decision],
                           settle: Settle) -> None:
    while engine.pending:
        await hand_on(engine.drain(), outbox, settle)


async def hand_on(decision: Decision | None, outbox: Handoff[Decision],
                  settle: Settle) -> None:
    """Hand the decision to routing, wait until routing is done with it, then until the broker
    has acted on its orders."""
    if decision is None:
        return
    await outbox.give(decision)
    await settle()
