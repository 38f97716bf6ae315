"""One instrument's position as FIFO lots: exact realized and unrealized PnL in `Decimal`.

An average-cost book would divide and round on every partial close; lots keep every fill's
price, so a close realizes exactly what it earned against the oldest lots it consumes.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from daemon.model import ZERO


class Lot:
    __slots__ = ("price", "qty")

    def __init__(self, qty: Decimal, price: Decimal) -> None:
        self.qty = qty  # unsigned: the book's sign says which way
        self.price = price


class Book:
    """One instrument's position as FIFO lots, all on the same side."""

    __slots__ = ("lots", "qty", "realized", "sign")

    def __init__(self) -> None:
        self.lots: deque[Lot] = deque()
        self.sign = 0
        self.realized = ZERO
        # The signed position, summed once per fill: it is read on every bar, order and fill.
        self.qty = ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Book a fill; return the PnL it realized."""
        realized = ZERO
        remaining = abs(signed_qty)
        direction = 1 if signed_qty > 0 else -1
        while remaining and self.sign == -direction and self.lots:
            lot = self.lots[0]
            closed = min(lot.qty, remaining)
            realized += closed * (price - lot.price) * self.sign
            lot.qty -= closed
            remaining -= closed
            if not lot.qty:
                self.lots.popleft()
        if not self.lots:
            self.sign = 0
        if remaining:
            self.sign = direction
            self.lots.append(Lot(remaining, price))
        self.realized += realized
        self.qty = self.sign * sum((lot.qty for lot in self.lots), ZERO)
        return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        total = ZERO  # a loop, not sum() over a generator: read on every risk-adding order
        for lot in self.lots:
            total += (mark - lot.price) * lot.qty
        return self.sign * total

    def avg_price(self) -> Decimal:
        qty = sum((lot.qty for lot in self.lots), ZERO)
        if not qty:
            return ZERO
        return sum((lot.qty * lot.price for lot in self.lots), ZERO) / qty
