"""Spot base the journal says this daemon holds outside its open orders, per base asset.

At a live start the account's free base must cover the allotted base (`exchange.allotted_base`)
plus this: what the journaled fills bought (net of base fees) less what they sold, less the
base the journal's open sell orders keep locked on the venue (locked is not free).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from daemon.journal.store import OrderRecord
from daemon.model import ZERO, Fill, Side


def base_held(fills: Iterable[Fill], unsettled: Iterable[OrderRecord]) -> dict[str, Decimal]:
    """Per spot base asset (swaps hold no base): the fills' net base minus open sells' rest."""
    held: dict[str, Decimal] = {}
    for f in fills:
        if ":" not in f.symbol:
            base = f.symbol.split("/", 1)[0]
            held[base] = held.get(base, ZERO) + f.signed_qty - f.fee_base
    for rec in unsettled:
        if rec.is_open and rec.side is Side.SELL and ":" not in rec.symbol:
            base = rec.symbol.split("/", 1)[0]
            held[base] = held.get(base, ZERO) - (rec.qty - rec.filled_qty)
    return held
