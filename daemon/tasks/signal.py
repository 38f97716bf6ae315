"""Signal task: tick batches -> bars -> strategy -> decisions onto the routing queue.

A decision is handed on at the tick whose bar produced it, and the task waits until routing has
taken it and the broker has acted on its orders (`settle`) before it reads on: the strategy's
next decision sees those orders and every event they caused so far (on paper, their fills). On a
replay clock the `MarketWalk` first brings the clock, the books and the paper broker to that
tick, so the orders go out at that tick's time and prices, not the batch's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from daemon.clock import Clock, stepper
from daemon.execution.decisions import WAKE, SignalEngine
from daemon.execution.market_walk import MarketWalk
from daemon.handoff import Handoff
from daemon.model import Decision, TickBatch
from daemon.ops import log

Settle = Callable[[], Awaitable[None]]


async def run(engine: SignalEngine, inbox: asyncio.Queue[TickBatch],
              outbox: Handoff[Decision], clock: Clock, settle: Settle,
              walk: MarketWalk | None = None) -> None:
    """`walk` is given on a replay clock: the books and broker follow the ticks read."""
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
        if batch is WAKE:  # the strategy's order events: show them now, not at the next tick
            await _hand_on_pending(engine, outbox, settle)
            inbox.task_done()
            continue
        await _process(engine, batch, outbox, settle, walk)
        if advance is not None:
            await _after_batch(engine, batch, outbox, settle, advance)
        else:
            await _look_at_batch(engine, batch, outbox, settle)
        inbox.task_done()


async def _process(engine: SignalEngine, batch: TickBatch, outbox: Handoff[Decision],
                   settle: Settle, walk: MarketWalk | None) -> None:
    """Read the batch, stopping at every tick that closes a bar (and, on a replay, wherever the
    walk must look): the books are brought to that tick first, then its bars are shown."""
    n = len(batch.ts_ns)
    pos = 0
    if walk is not None:
        walk.begin()
    while pos < n:
        close = engine.next_close(batch, pos, n)
        engine.read(batch, pos, close)  # no bar closes before `close`
        if walk is not None:
            await _walk(walk, engine, batch, pos, close, settle)
        if close >= n:
            break
        pos = engine.read(batch, close, close + 1)
        await _hand_on_pending(engine, outbox, settle)
    await _hand_on_pending(engine, outbox, settle)
    if walk is not None and n and await walk.to(batch, n - 1):
        await settle()


async def _walk(walk: MarketWalk, engine: SignalEngine, batch: TickBatch, lo: int, close: int,
                settle: Settle) -> None:
    """Bring the books to each tick in [lo, close) where something may happen, then to `close`
    (the bar-closing tick, if in the batch). The ticks before `close` are already read into the
    open bar: that is safe, since a strategy sees a bar only once it closed, and it gives the
    walk the run's price range for free."""
    low, high = engine.run_low, engine.run_high
    n = len(batch.ts_ns)
    while True:
        stop = walk.next_stop(batch, lo, close, low, high)
        if stop >= n:
            return
        if await walk.to(batch, stop):
            await settle()  # a breaker or a resting order acted at this tick: let it finish
        if stop >= close:
            return
        lo = stop + 1


async def _after_batch(engine: SignalEngine, batch: TickBatch, outbox: Handoff[Decision],
                       settle: Settle, advance: Callable[[int, bool], None]) -> None:
    advance(batch.recv_ns, False)
    await _look_at_batch(engine, batch, outbox, settle)
    # Only now wake the timers (and the replay source's next batch): orders decided on
    # this batch must not meet the next one's prices.
    advance(batch.recv_ns, True)


async def _look_at_batch(engine: SignalEngine, batch: TickBatch, outbox: Handoff[Decision],
                         settle: Settle) -> None:
    await hand_on(engine.after_batch(batch), outbox, settle)
    await hand_on(engine.on_time(batch.recv_ns), outbox, settle)
    await _hand_on_pending(engine, outbox, settle)


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
