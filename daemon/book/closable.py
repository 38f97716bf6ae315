"""How much of a position the venue would let us close: on the lot grid, at least the minimum
quantity and, at the mark, the minimum notional. The rest is dust.

Every strategy asks at every bar (its dust check), while a position changes only with fills and
the mark at every bar. So the grid and minimum-quantity part is kept per position, and the
notional part compares the float mark with the price below which the position is dust; the
exact `Decimal` product (the mark's `Decimal` form alone costs ~0.6 us) decides only within a
hair of that price, where a float could be wrong.
"""

from __future__ import annotations

from decimal import Decimal

from daemon.model import ZERO, Instrument

SLACK = 1e-9  # relative: far above a float's error (~1e-16), far below any real tick


class Closable:
    """One instrument's rule, with what it computed for the position it last saw."""

    def __init__(self, instrument: Instrument) -> None:
        self._inst = instrument
        self._qty: Decimal | None = None  # the position the fields below are for
        self._floored = ZERO  # its closable size, before the notional check
        self._dust_below = 0.0  # a mark under this (as a float) makes it dust

    def screen(self, qty: Decimal, mark: float | None) -> Decimal | None:
        """The closable part of `qty` at `mark` (None: no mark yet, the notional unchecked);
        None also when `mark` is within a hair of the dust line: ask `exact`."""
        if qty != self._qty:
            self._size(qty)
        floored = self._floored
        if not floored or mark is None:
            return floored
        line = self._dust_below
        if mark > line * (1 + SLACK):
            return floored
        if mark < line * (1 - SLACK):
            return ZERO
        return None

    def exact(self, qty: Decimal, mark: Decimal | None) -> Decimal:
        """The same in `Decimal`, at the mark's exact form."""
        if qty != self._qty:
            self._size(qty)
        floored = self._floored
        if floored and mark is not None and floored * mark < self._inst.min_notional:
            return ZERO
        return floored

    def _size(self, qty: Decimal) -> None:
        inst = self._inst
        floored = inst.floor_qty(abs(qty))
        if floored <= 0 or floored < inst.min_qty:
            floored = ZERO
        self._qty = qty
        self._floored = floored
        self._dust_below = float(inst.min_notional / floored) if floored else 0.0
