"""Where a swap position would be liquidated: the estimate the risk gate's
`min_liquidation_distance` check uses before an order adds risk.

One-way position of `qty` (signed) valued at the mark `mark`, backed by `backing`: its own
margin `|qty| x mark / leverage` when isolated, the daemon's equity when cross. The venue
liquidates where the backing plus the position's PnL falls to the maintenance margin
(`MAINT_MARGIN_RATE` of the notional at that price):

    long:  backing + qty (P - mark) = mmr qty P   ->  P = (qty mark - backing) / (qty (1 - mmr))
    short: backing - q (P - mark)   = mmr q P     ->  P = (q mark + backing) / (q (1 + mmr))

(Binance's one-way formula with the entry at the mark.) Valuing the position at the mark, not
its entry, is exact for cross margin (equity already holds the unrealized PnL) and, for an
isolated position that has moved, off by that move; the venue's own liquidation price, from
its position report, is what the liquidation breaker watches once the position exists.
"""

from __future__ import annotations

from decimal import Decimal

# Binance's first BTCUSDT bracket is 0.4%; a little more, so that the estimate is not rosy
# for the larger brackets of a bigger position.
MAINT_MARGIN_RATE = Decimal("0.005")
HUNDRED = Decimal(100)
ONE = Decimal(1)


def liquidation_price(qty: Decimal, mark: Decimal, backing: Decimal,
                      mmr: Decimal = MAINT_MARGIN_RATE) -> Decimal:
    """The estimated liquidation price (0: none above zero, the backing covers it all); with
    `mmr` 0, the bankruptcy price (where the backing is gone)."""
    if not qty or mark <= 0:
        return Decimal(0)
    if qty > 0:
        price = (qty * mark - backing) / (qty * (ONE - mmr))
    else:
        q = -qty
        price = (q * mark + backing) / (q * (ONE + mmr))
    return price if price > 0 else Decimal(0)


def distance_pct(qty: Decimal, mark: Decimal, leverage: int, isolated: bool,
                 equity: Decimal) -> Decimal:
    """How far, in percent of the mark, the estimated liquidation price is from the mark
    (100: no liquidation price at all, a long backed by more than its notional)."""
    if not qty or mark <= 0:
        return HUNDRED
    backing = abs(qty) * mark / leverage if isolated else equity
    if backing <= 0:
        return Decimal(0)  # nothing backs it: liquidated at once
    price = liquidation_price(qty, mark, backing)
    if price <= 0:
        return HUNDRED
    return abs(mark - price) / mark * HUNDRED


def isolated_distances(leverage: int) -> tuple[Decimal, Decimal]:
    """(long, short) distance in percent for an isolated position: the same whatever its size
    and the mark."""
    return (distance_pct(ONE, ONE, leverage, True, Decimal(0)),
            distance_pct(-ONE, ONE, leverage, True, Decimal(0)))
