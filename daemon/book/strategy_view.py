"""What a strategy sees of its own orders: the working orders it sent, read-only.

The router records the client id of every order a strategy's decision put into the books
(`OwnedOrders.add`); the daemon's own flatten closes, orders restored from an earlier run and
another instance's orders are never in it. `StrategyView` is the inventory view plus those
orders as frozen `WorkingOrder`s, and the router refuses a strategy's cancel of any order not in
the set: a strategy can only touch what it sent.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import msgspec

from daemon.book.inventory import InventoryManager, InventoryView
from daemon.model import Order, OrderState, OrderType, Side, TimeInForce

# Ids of orders that ended without the signal engine hearing of it (booked by the reconciler)
# are dropped once the set holds this many more than are working.
_PRUNE_SLACK = 4096
# Orders whose end the strategy was shown, remembered (with their tags) so that a fill booked
# after the end (the reconciler's REST check found a trade the streams missed) still reaches
# `on_fill`: the last this many.
ENDED_MEMORY = 1024


class WorkingOrder(msgspec.Struct, frozen=True):
    """One of the strategy's orders as the books hold it now."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    limit_price: Decimal | None
    qty: Decimal
    remaining_qty: Decimal
    state: OrderState
    time_in_force: TimeInForce
    reduce_only: bool
    tag: str
    created_ns: int

    @staticmethod
    def of(order: Order) -> WorkingOrder:
        return WorkingOrder(order.client_order_id, order.symbol, order.side, order.order_type,
                            order.limit_price, order.qty, order.remaining_qty, order.state,
                            order.time_in_force, order.reduce_only, order.tag,
                            order.created_ns)


class OwnedOrders:
    """Client ids (and tags) of the orders a strategy sent that may still be working, or whose
    end the strategy has not been shown yet; and the last `ENDED_MEMORY` whose end it was."""

    __slots__ = ("_ended", "_ended_order", "_ids", "_inventory")

    def __init__(self, inventory: InventoryManager) -> None:
        self._inventory = inventory
        self._ids: dict[str, str] = {}
        self._ended: dict[str, str] = {}
        self._ended_order: deque[str] = deque()

    def add(self, client_order_id: str, tag: str) -> None:
        ids = self._ids
        ids[client_order_id] = tag
        if len(ids) > _PRUNE_SLACK and len(ids) > 2 * len(self._inventory.working_orders()):
            working = {o.client_order_id for o in self._inventory.working_orders()}
            for coid in [c for c in ids if c not in working]:
                del ids[coid]

    def discard(self, client_order_id: str) -> None:
        """The strategy was shown the order's end: no longer its working order."""
        tag = self._ids.pop(client_order_id, None)
        if tag is not None and client_order_id not in self._ended:
            self._ended[client_order_id] = tag
            self._ended_order.append(client_order_id)
            if len(self._ended_order) > ENDED_MEMORY:
                self._ended.pop(self._ended_order.popleft(), None)

    def ended(self, client_order_id: str) -> bool:
        """One of the strategy's orders whose end it was shown (among the last ones)."""
        return client_order_id in self._ended

    def tag_of(self, client_order_id: str) -> str | None:
        tag = self._ids.get(client_order_id)
        return tag if tag is not None else self._ended.get(client_order_id)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class StrategyView(InventoryView):
    """The inventory view a strategy gets, plus its own working orders."""

    __slots__ = ("_owned",)

    def __init__(self, inventory: InventoryManager, owned: OwnedOrders) -> None:
        super().__init__(inventory)
        self._owned = owned

    def own_orders(self, symbol: str | None = None) -> list[WorkingOrder]:
        """The strategy's working orders (of `symbol`), oldest first."""
        owned = self._owned
        return [WorkingOrder.of(o) for o in self._inv.working_orders(symbol)
                if o.client_order_id in owned]

    def own_order(self, client_order_id: str) -> WorkingOrder | None:
        """One of the strategy's orders, if it is still working."""
        if client_order_id not in self._owned:
            return None
        order = self._inv._orders.get(client_order_id)
        return None if order is None else WorkingOrder.of(order)

    def tag_of(self, client_order_id: str) -> str | None:
        """The tag the strategy gave one of its orders (also in the callback that reports the
        order's end); None for an order that is not its own."""
        return self._owned.tag_of(client_order_id)

    def is_working(self, client_order_id: str) -> bool:
        return client_order_id in self._inv._orders
