"""The hand-off between the signal and routing tasks: one item at a time, and the giver goes on
only once the taker is done with it."""

from __future__ import annotations

import asyncio

import pytest

from daemon.handoff import Handoff, WorkQueue


@pytest.mark.asyncio
async def test_the_giver_waits_until_the_taker_is_done() -> None:
    handoff: Handoff[str] = Handoff()
    given = asyncio.create_task(handoff.give("a"))
    assert await handoff.take() == "a"
    await asyncio.sleep(0)
    assert not given.done(), "the giver went on before the taker was done"
    assert handoff.pending
    handoff.done()
    await asyncio.wait_for(given, 1)
    assert not handoff.pending


@pytest.mark.asyncio
async def test_the_taker_waits_for_an_item_and_takes_each_once() -> None:
    handoff: Handoff[int] = Handoff()
    taken: list[int] = []

    async def taker() -> None:
        while True:
            taken.append(await handoff.take())
            handoff.done()

    task = asyncio.create_task(taker())
    try:
        for item in range(5):
            await asyncio.wait_for(handoff.give(item), 1)
        assert taken == [0, 1, 2, 3, 4]
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_a_second_item_before_the_first_is_done_is_refused() -> None:
    handoff: Handoff[str] = Handoff()
    first = asyncio.create_task(handoff.give("a"))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await handoff.give("b")
    assert await handoff.take() == "a"
    handoff.done()
    await asyncio.wait_for(first, 1)


@pytest.mark.asyncio
async def test_a_cancelled_giver_leaves_the_item_given() -> None:
    handoff: Handoff[str] = Handoff()
    given = asyncio.create_task(handoff.give("a"))
    await asyncio.sleep(0)
    given.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given
    assert handoff.pending  # shutdown reports it as a decision never routed
    assert await asyncio.wait_for(handoff.take(), 1) == "a"


@pytest.mark.asyncio
async def test_the_work_queue_hands_items_over_in_order_and_joins_when_all_are_done() -> None:
    queue: WorkQueue[int] = WorkQueue()
    worked: list[int] = []
    release = asyncio.Event()

    async def worker() -> None:
        while True:
            item = await queue.get()
            await release.wait()  # each item is still being worked when join() is called
            worked.append(item)
            queue.task_done()

    task = asyncio.create_task(worker())
    try:
        for item in range(4):
            queue.put_nowait(item)
        joined = asyncio.create_task(queue.join())
        await asyncio.sleep(0)
        assert not joined.done(), "joined before the items were worked"
        release.set()
        await asyncio.wait_for(joined, 1)
        assert worked == [0, 1, 2, 3]
        await asyncio.wait_for(queue.join(), 1)  # nothing outstanding: returns at once
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_the_work_queue_refuses_a_second_worker_and_a_task_done_too_many() -> None:
    queue: WorkQueue[int] = WorkQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await queue.get()
    queue.put_nowait(7)
    assert await asyncio.wait_for(first, 1) == 7
    queue.task_done()
    with pytest.raises(ValueError):
        queue.task_done()
