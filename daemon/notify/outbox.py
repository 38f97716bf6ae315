"""One sink's bounded queue of messages: what gives way when a sink falls behind.

Full, it drops its oldest informational message to make room (counted); a message that must
arrive (`Message.essential`: a halt, a crash, an incomplete flatten, the stop) is never
dropped and always admitted: there are only ever a few (a halt latches), and losing one is the
failure this queue exists to prevent. `put` never waits: it is called from the log call of
whatever task logged the event, the order path included.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from daemon.notify.message import Message


class Outbox:
    def __init__(self, size: int, on_drop: Callable[[str], None]) -> None:
        self._size = size
        self._items: deque[Message] = deque()
        self._on_drop = on_drop  # called with the dropped message's event name
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued and nothing being sent
        self._idle.set()
        self.current: Message | None = None  # taken by `get`, being delivered

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: Message, front: bool = False) -> None:
        if len(self._items) >= self._size and not self._make_room(message):
            self._on_drop(message.event)
            return
        if front:
            self._items.appendleft(message)
        else:
            self._items.append(message)
        self._ready.set()
        self._idle.clear()

    def _make_room(self, incoming: Message) -> bool:
        for n, queued in enumerate(self._items):
            if not queued.essential:
                del self._items[n]
                self._on_drop(queued.event)
                return True
        return incoming.essential  # all queued ones must arrive: so must this one

    async def get(self) -> Message:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        self.current = self._items.popleft()
        return self.current

    def take(self, event: str) -> list[Message]:
        """Remove and return every queued message of `event`, in order (fill grouping)."""
        taken = [m for m in self._items if m.event == event]
        if taken:
            self._items = deque(m for m in self._items if m.event != event)
        return taken

    def has_essential(self) -> bool:
        return any(m.essential for m in self._items)

    def done(self) -> None:
        """The message taken by `get` is delivered, or given up."""
        self.current = None
        if not self._items:
            self._idle.set()

    def pending(self) -> list[Message]:
        """Every message not yet delivered nor given up: the one in flight, then the queue."""
        return ([self.current] if self.current is not None else []) + list(self._items)

    async def drained(self) -> None:
        await self._idle.wait()

    def changed(self) -> asyncio.Event:
        """Set whenever a message is put: what a grouping window waits on."""
        return self._ready
