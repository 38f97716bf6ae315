"""Trade ids already booked, per instrument: the inventory's de-duplication window.

A fill can arrive twice (a websocket fill and its REST twin, within seconds); the journal
refuses a known trade id first in every live run, and this window is the books' own guard.
"""

from __future__ import annotations

from collections import deque

# Bounded so memory stays flat for months: 20,000 ids are ~2 MB, an hour of fills at 5/s.
DEDUP_WINDOW = 20_000


class RecentIds:
    """The last `size` ids added, O(1) per id (a dict trimmed from the front rescans the
    holes its deletions leave: 4 us an id at 20,000)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, item: str) -> bool:
        """False if `item` is among the last `size` ids; otherwise remember it."""
        if item in self._ids:
            return False
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True
