"""The in-memory journal: the `OrderJournal` of a run that nothing will restart (a replay, the
bench, in-process tests), so that it takes the live order path — each decision's orders
committed, then sent; each event journaled, then booked — without a disk.

It keeps the orders still working, which is all a running daemon asks of its journal; nothing
outlives the process, so there is nothing to reconcile and no restart to replay for. Duplicate
fills are the books' to refuse (their window of recent trade ids), as they are behind the SQLite
journal: a fill here is always fresh. Nothing in it awaits, so no cancel can split a step.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from daemon.events import BrokerEvent, OrderCancelled, OrderFilled, OrderRejected
from daemon.model import Order

T = TypeVar("T")


class MemoryJournal:
    def __init__(self, run_ns: int) -> None:
        self.run_ns = run_ns
        # What is left to fill of each order committed and not yet ended, by client order id.
        # Not the orders themselves: those are the books', and only the books change them.
        self.working: dict[str, Decimal] = {}

    async def record_intents(self, orders: list[Order]) -> None:
        for order in orders:
            self.working[order.client_order_id] = order.qty - order.filled_qty

    async def record_then(self, event: BrokerEvent, apply: Callable[[bool], T]) -> T:
        self._record(event)
        return apply(True)

    def _record(self, event: BrokerEvent) -> None:
        if isinstance(event, OrderFilled):
            fill = event.fill
            left = self.working.get(fill.client_order_id)
            if left is not None:
                if left - fill.qty > 0:
                    self.working[fill.client_order_id] = left - fill.qty
                else:  # filled in full: final
                    del self.working[fill.client_order_id]
        elif isinstance(event, (OrderCancelled, OrderRejected)):
            self.working.pop(event.client_order_id, None)

    async def close(self) -> None:
        self.working.clear()
