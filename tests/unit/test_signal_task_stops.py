"""The signal task stops when cancelled, even while its inbox always has a batch ready.

asyncio.wait_for on 3.11 hands back a get that completed as the task was cancelled and drops
the cancellation: the task then loops on, and the trading group's stop waits for ever.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.book.inventory import InventoryManager
from daemon.clock import LiveClock
from daemon.config import parse
from daemon.execution.decisions import SignalEngine
from daemon.handoff import Handoff
from daemon.model import Decision, Tick, TickBatch
from daemon.tasks import signal as signal_task
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext
from tests.support.configs import SHIPPED
from tests.support.strategies import Alternate, AlternateParams


@pytest.mark.asyncio
async def test_cancel_stops_the_signal_task_with_a_busy_inbox() -> None:
    instruments = instruments_from_config(parse(SHIPPED))
    inventory = InventoryManager(instruments.values(), Decimal(1000))
    strategy = Alternate(AlternateParams("BTC/USDT", Decimal("0.01")),
                         StrategyContext(instruments, Path(".")))
    inbox: asyncio.Queue[TickBatch] = asyncio.Queue()
    outbox: Handoff[Decision] = Handoff()
    clock = LiveClock()

    async def feed() -> None:
        while True:  # a batch is always waiting, as under a busy market
            now = clock.now_ns()
            inbox.put_nowait(TickBatch.of("BTC/USDT", [Tick(now, 60000.0, 0.1)], 59999.0,
                                          60001.0, now))
            await asyncio.sleep(0)

    async def settled() -> None:  # no broker here: nothing is ever handed over
        return None

    feeder = asyncio.create_task(feed())
    task = asyncio.create_task(signal_task.run(SignalEngine(strategy, inventory.view, clock), inbox,
                                               outbox, clock, settled))
    try:
        for _ in range(20):
            await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=0.2)
            assert done, "a cancel was swallowed"
    finally:
        feeder.cancel()
        task.cancel()
