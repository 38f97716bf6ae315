"""A tap on the books: every fill an inventory books, for tests that compare fills."""

from __future__ import annotations

from daemon.inventory import InventoryManager
from daemon.model import Fill


def record_fills(inventory: InventoryManager) -> list[Fill]:
    """The fills `inventory` books from now on, in booking order (it still books each)."""
    booked: list[Fill] = []
    apply = inventory.apply_fill

    def record(fill: Fill) -> bool:
        booked.append(fill)
        return apply(fill)

    inventory.apply_fill = record  # type: ignore[method-assign]
    return booked
