"""The in-memory journal: the `OrderJournal` of a run that nothing will restart (a replay, the
bench, in-process tests), so that it takes the live order path — each decision's orders
committed, then sent; each event journaled, then booked — without a disk.

It keeps nothing: a run nobody restarts has nothing to reconcile and no history to replay, and
the books already hold everything the run itself reads. Duplicate fills are the books' to
refuse (their window of recent trade ids), as they are behind the SQLite journal: a fill here is
always fresh. Nothing in it awaits, so no cancel can split a step and no other task runs
between an order's commit and its hand-over. Compiled with the order path (`daemon.accel`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from daemon.events import BrokerEvent
from daemon.model import Order

T = TypeVar("T")


class MemoryJournal:
    def __init__(self, run_ns: int) -> None:
        self.run_ns = run_ns

    async def record_intents(self, orders: list[Order]) -> None:
        return None

    async def record_then(self, event: BrokerEvent, apply: Callable[[bool], T]) -> T:
        return apply(True)

    async def close(self) -> None:
        return None
