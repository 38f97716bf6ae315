"""`InventoryView`: read-only access to the books, for strategies, the risk gate and reporting.

The inventory manager (`daemon.book.inventory`) is the only writer; everyone else reads through
this view, whose hot reads are the manager's own methods, bound.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from daemon.model import Instrument, Order, OrderType, PositionView, Side

if TYPE_CHECKING:
    from daemon.book.inventory import InventoryManager


class InventoryView:
    """Read-only access to the books, for strategies, the risk gate and reporting."""

    __slots__ = ("_inv", "allotted_base", "closable_qty", "equity", "mark_price", "mark_ts_ns",
                 "position", "touch", "working_qty", "working_qtys")

    def __init__(self, inventory: InventoryManager) -> None:
        self._inv = inventory
        # The manager's own read methods, bound: the gate asks a dozen of these per order,
        # and a forwarding call each would be a second Python frame.
        self.position: Callable[[str], Decimal] = inventory.position
        self.mark_price: Callable[[str], Decimal | None] = inventory.mark_price
        self.mark_ts_ns: Callable[[str], int | None] = inventory.mark_ts_ns
        self.touch: Callable[[str], tuple[Decimal, Decimal] | None] = inventory.touch
        self.equity: Callable[[], Decimal] = inventory.equity
        self.working_qty: Callable[[str, Side], Decimal] = inventory.working_qty
        self.closable_qty: Callable[[str], Decimal] = inventory.closable_qty
        self.working_qtys: Callable[[str], tuple[Decimal, Decimal]] = inventory.working_qtys
        self.allotted_base: Callable[[str], Decimal] = inventory.allotted_base

    @property
    def cash(self) -> Decimal:
        return self._inv.cash

    @property
    def fill_count(self) -> int:
        return self._inv.fill_count

    @property
    def revision(self) -> int:
        return self._inv.revision

    def instrument(self, symbol: str) -> Instrument:
        return self._inv._instruments[symbol]

    def positions(self) -> list[PositionView]:
        return self._inv.positions()

    def working_orders(self, symbol: str | None = None) -> list[Order]:
        # Copies: a reader must not be able to change an order's state.
        return [Order(**{f: getattr(o, f) for f in o.__struct_fields__})
                for o in self._inv.working_orders(symbol)]

    def find_working(self, symbol: str, side: Side, qty: Decimal, order_type: OrderType,
                     limit_price: Decimal | None, reduce_only: bool) -> str | None:
        """The client id of a working order with exactly these terms, if there is one."""
        for o in self._inv._orders.values():
            if (o.symbol == symbol and o.side is side and o.qty == qty
                    and o.order_type is order_type and o.limit_price == limit_price
                    and o.reduce_only == reduce_only):
                return o.client_order_id
        return None

    @property
    def symbols(self) -> list[str]:
        return list(self._inv._instruments)

    def has_working_orders(self, symbol: str) -> bool:
        # Asked on every bar: no list of copies, just a look.
        return any(o.symbol == symbol for o in self._inv._orders.values())
