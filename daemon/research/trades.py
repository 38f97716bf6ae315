"""From a run's fills to what a report shows: round trips, and equity bar by bar.

A round trip is one position from flat back to flat (a flip ends one and starts the next at
the same fill, split by quantity). Its entry and exit prices are quantity-weighted averages; its
PnL is what its exits received minus what its entries paid, less every fee on either side — exact
`Decimal`, as the books keep it. Equity per bar is cash plus the position at the bar's close,
rebuilt from the same fills, so the report never depends on the daemon's internals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from daemon.model import Fill, Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class RoundTrip:
    side: Side  # BUY: a long
    qty: Decimal
    entry_ns: int
    exit_ns: int
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal  # after fees
    fees: Decimal


@dataclass
class _Open:
    side: Side
    entry_ns: int
    qty: Decimal = ZERO  # entered so far
    cost: Decimal = ZERO  # quantity x price of the entries
    exited: Decimal = ZERO
    proceeds: Decimal = ZERO  # quantity x price of the exits
    fees: Decimal = ZERO
    exit_ns: int = 0

    def close(self) -> RoundTrip:
        sign = 1 if self.side is Side.BUY else -1
        gross = (self.proceeds - self.cost) * sign
        return RoundTrip(self.side, self.qty, self.entry_ns, self.exit_ns,
                         self.cost / self.qty, self.proceeds / self.exited,
                         gross - self.fees, self.fees)


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    done: list[RoundTrip] = []
    position = ZERO
    trip: _Open | None = None
    for f in fills:
        signed = f.qty if f.side is Side.BUY else -f.qty
        fee_per_unit = f.fee_quote / f.qty
        closing = ZERO if trip is None or (position > 0) == (signed > 0) else min(
            abs(signed), abs(position))
        if trip is not None and closing:
            trip.exited += closing
            trip.proceeds += closing * f.price
            trip.fees += closing * fee_per_unit
            trip.exit_ns = f.ts_ns
        opening = abs(signed) - closing
        position += signed
        if trip is not None and (position == 0 or (closing and opening)):
            done.append(trip.close())
            trip = None
        if opening:
            if trip is None:
                trip = _Open(f.side, f.ts_ns)
            trip.qty += opening
            trip.cost += opening * f.price
            trip.fees += opening * fee_per_unit
    return done


def equity_per_bar(fills: Sequence[Fill], bar_end_ns: Sequence[int], closes: Sequence[float],
                   starting_cash: Decimal,
                   funding: Sequence[tuple[int, Decimal]] = ()) -> list[Decimal]:
    """Cash plus position x close at the end of every bar, from the fills booked by then and
    the funding (time, amount; swaps) settled by then."""
    out: list[Decimal] = []
    cash, position, k, j = starting_cash, ZERO, 0, 0
    for end, close in zip(bar_end_ns, closes, strict=True):
        while j < len(funding) and funding[j][0] < end:
            cash += funding[j][1]
            j += 1
        while k < len(fills) and fills[k].ts_ns < end:
            f = fills[k]
            signed = f.qty if f.side is Side.BUY else -f.qty
            cash -= signed * f.price + f.fee_quote
            position += signed
            k += 1
        out.append(cash + position * Decimal(repr(close)))
    return out
