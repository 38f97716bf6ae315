"""The closable quantity (the dust rule) with its float screen equals the rule in plain `Decimal`
at the mark's exact form, for any position and mark: marks on the dust line, a hair either side
of it, and anywhere, asked in any order (the rule keeps what it computed per position)."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from daemon.book.inventory import InventoryManager
from daemon.model import Fill, Instrument, MarketKind, Side

D = Decimal
BTC = Instrument("BTC/USDT:USDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.0001"),
                 D("1000"), D("5"), kind=MarketKind.MARGIN)


def reference(qty: Decimal, mark: float | None) -> Decimal:
    """The rule as written before the screen: every step in `Decimal`."""
    floored = BTC.floor_qty(abs(qty))
    if floored <= 0 or floored < BTC.min_qty:
        return D(0)
    if mark is not None and floored * D(repr(mark)) < BTC.min_notional:
        return D(0)
    return floored


def near_the_line(qty: Decimal, nudge: int) -> float:
    """A mark on the position's dust line, `nudge` floats away from it."""
    floored = BTC.floor_qty(abs(qty))
    mark = float(BTC.min_notional / floored) if floored else 1.0
    step = math.inf if nudge > 0 else -math.inf
    for _ in range(abs(nudge)):
        mark = math.nextafter(mark, step)
    return mark


quantities = st.decimals(min_value=D("-0.01"), max_value=D("0.01"), places=6)
asks = st.lists(st.tuples(quantities, st.integers(-3, 3) | st.none(),
                          st.floats(1.0, 1e6) | st.none()), min_size=1, max_size=12)


@given(asks)
@example([(D("0.0005"), 0, None)])  # exactly on the line: 0.0005 x 10,000 = 5, not dust
@example([(D("0.0005"), -1, None), (D("0.0005"), 1, None)])
@example([(D("0.000333"), 0, None), (D("-0.000333"), 1, None)])
def test_closable_qty_equals_the_rule_in_decimal(seq: list[tuple[Decimal, int | None,
                                                                 float | None]]) -> None:
    inventory = InventoryManager([BTC], D(1_000_000))
    held, last_mark = D(0), None
    for n, (qty, nudge, anywhere) in enumerate(seq):
        if qty != held:  # move the position there with one fill
            move = qty - held
            inventory.apply_fill(Fill("c", f"t{n}", BTC.symbol, Side.of(move), abs(move),
                                      D(100), D(0), n))
            held = qty
        mark = near_the_line(qty, nudge) if nudge is not None else anywhere
        if mark is not None:
            inventory.mark(BTC.symbol, mark, n)
            last_mark = mark
        assert inventory.closable_qty(BTC.symbol) == reference(qty, last_mark), (qty, mark)
