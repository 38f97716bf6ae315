"""A hand-off between two tasks: one item at a time, and the giver waits until the taker is done
with it.

The signal task gives the routing task its decisions this way. The next decision must see what
the last one's orders did, so there is never more than one in flight: an `asyncio.Queue` with
`join()` did the same with a deque, two waiter lists and an Event, all on the bar-to-order path.
"""

from __future__ import annotations

import asyncio
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
        taker = self._taker
        if taker is not None and not taker.done():
            taker.set_result(None)
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
        giver = self._giver
        if giver is not None and not giver.done():
            giver.set_result(None)
