"""A tap on the books: every fill an inventory books, for tests that compare fills."""

from __future__ import annotations

from daemon.book.inventory import InventoryManager
from daemon.model import Fill


def record_fills(inventory: InventoryManager) -> list[Fill]:
    """The fills `inventory` books from now on, in booking order."""
    booked: list[Fill] = []
    inventory.tap_fills(booked.append)
    return booked
