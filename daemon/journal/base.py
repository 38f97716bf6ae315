"""What the order path asks of a journal: the SQLite one (`store.Journal`) for a daemon that
must survive a restart, the in-memory one (`memory.MemoryJournal`) for replays, the bench and
tests. Both take the same path: a decision's orders are committed, then sent; an event is
journaled, then booked, in one step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from daemon.events import BrokerEvent
from daemon.model import Order

T = TypeVar("T")


class OrderJournal(Protocol):
    # This run's id, later than every earlier run's: the middle part of every client order id.
    run_ns: int

    async def record_intents(self, orders: list[Order]) -> None:
        """Commit orders before their requests go out."""

    async def record_then(self, event: BrokerEvent, apply: Callable[[bool], T]) -> T:
        """Journal an event, then `apply(fresh)` it to the books (`fresh`: not a fill the
        journal already had), as one step a cancel cannot split."""

    async def close(self) -> None: ...
