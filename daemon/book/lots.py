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
    """One instrument's position as FIFO lots, all on the same side. The position and the lots'
    cost are kept as running sums, so a fill, a valuation and the average price cost the same
    with one lot or twenty thousand (a position built from many partial fills); a fill that
    closes walks only the lots it consumes."""

    __slots__ = ("cost", "lots", "qty", "realized", "sign")

    def __init__(self) -> None:
        self.lots: deque[Lot] = deque()
        self.sign = 0
        self.realized = ZERO
        self.qty = ZERO  # the signed position: sign * (sum of the lots' qty)
        self.cost = ZERO  # sum of qty * price over the lots (unsigned)

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Book a fill; return the PnL it realized."""
        realized = ZERO
        remaining = abs(signed_qty)
        direction = 1 if signed_qty > 0 else -1
        while remaining and self.sign == -direction and self.lots:
            lot = self.lots[0]
            closed = min(lot.qty, remaining)
            realized += closed * (price - lot.price) * self.sign
            self.cost -= closed * lot.price
            lot.qty -= closed
            remaining -= closed
            if not lot.qty:
                self.lots.popleft()
        if not self.lots:
            self.sign = 0
            self.cost = ZERO
        if remaining:
            self.sign = direction
            self.lots.append(Lot(remaining, price))
            self.cost += remaining * price
        self.realized += realized
        # Whatever the fill did (add, reduce, flip), the position moves by exactly its size.
        self.qty = self.qty + signed_qty if self.lots else ZERO
        return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        if not self.lots:
            return ZERO
        return self.sign * (mark * abs(self.qty) - self.cost)

    def avg_price(self) -> Decimal:
        qty = abs(self.qty)
        return self.cost / qty if qty else ZERO
