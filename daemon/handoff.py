"""Hand-offs between tasks on the bar-to-order path, in compiled code (`daemon.accel`).

`Handoff`: one item at a time, and the giver waits until the taker is done with it. The signal
task gives the routing task its decisions this way. The next decision must see what the last
one's orders did, so there is never more than one in flight: an `asyncio.Queue` with `join()`
did the same with a deque, two waiter lists and an Event, interpreted.

`WorkQueue`: unbounded, first in first out, to one worker task, with `join()`: the paper
broker's requests (what `asyncio.Queue` did there, without its bound and its Event).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(self) -> None:
        self._item: T | None = None
        self._given = False  # an item was given and not done with
        self._taken = False
        self._taker: asyncio.Future[None] | None = None
        self._giver: asyncio.Future[None] | None = None

    @property
    def pending(self) -> bool:
        """An item was given and not done with (at shutdown: a decision never routed)."""
        return self._given

    async def give(self, item: T) -> None:
        """Hand `item` over, then wait until the taker has called `done` for it. Cancelled while
        waiting, the item stays given: the taker may still deal with it."""
        if self._given:
            raise RuntimeError("hand-off: the last item is not done with yet")
        self._item = item
        self._given = True
        self._taken = False
        _wake(self._taker)
        giver = self._giver = asyncio.get_running_loop().create_future()
        try:
            await giver
        finally:
            self._giver = None

    async def take(self) -> T:
        """The item given; call `done` once it has been dealt with."""
        while not self._given or self._taken:
            taker = self._taker = asyncio.get_running_loop().create_future()
            try:
                await taker
            finally:
                self._taker = None
        self._taken = True
        return self._item  # type: ignore[return-value]  # given: an item of type T

    def done(self) -> None:
        """The taken item is dealt with: the giver goes on."""
        self._item = None
        self._given = False
        _wake(self._giver)


class WorkQueue(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._unfinished = 0  # put and not yet task_done
        self._getter: asyncio.Future[None] | None = None
        self._joiners: list[asyncio.Future[None]] = []

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._unfinished += 1
        _wake(self._getter)

    async def get(self) -> T:
        """The oldest item (one worker: a second concurrent `get` is a bug)."""
        while not self._items:
            if self._getter is not None:
                raise RuntimeError("work queue: one worker only")
            getter = self._getter = asyncio.get_running_loop().create_future()
            try:
                await getter
            finally:
                self._getter = None
        return self._items.popleft()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called more times than items were put")
        self._unfinished -= 1
        if self._unfinished == 0:
            joiners, self._joiners = self._joiners, []
            for joiner in joiners:
                _wake(joiner)

    async def join(self) -> None:
        """Wait until every item put so far is done with."""
        if self._unfinished:
            joiner = asyncio.get_running_loop().create_future()
            self._joiners.append(joiner)
            await joiner


def _wake(waiter: asyncio.Future[None] | None) -> None:
    """Resolve a waiting task's future, unless it is gone or already resolved (cancelled)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
