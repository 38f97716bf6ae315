"""The flatten's TWAP (`shutdown.flatten_twap_s`): a position bigger than one order closed by
a TWAP over that long, instead of back-to-back pieces that walk the book at once.

Each such position gets a parent order from the algo engine (source "flatten": reduce-only
children routed as flatten orders, which the gate lets through in REDUCING and HALTED and no
halt ends), sliced so that a child is at most half of `risk.max_order_notional` at the mark
(room for the price to move). The flatten leaves those symbols to it until it ends or its
time (plus `GRACE_S`) is up; then whatever is left goes the fast way, inside the flatten's own
deadline (`flatten_twap_s` is at most half of it). Only on a live clock: after a replay's data
ends no market time passes, so its last flatten is the fast one.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from daemon.book.inventory import InventoryManager
from daemon.execution.algos.engine import FLATTEN, MAX_SLICES, AlgoEngine, AlgoRefused
from daemon.model import Algo, ParentOrder, Side
from daemon.ops import log

_log = log.get("shutdown")
GRACE_S = 2.0  # after the TWAP's duration, for its last child's answer


async def start(algos: AlgoEngine, inventory: InventoryManager, max_order_notional: Decimal,
                duration_s: float) -> int:
    """Start a TWAP close for every position bigger than one order; return how many."""
    started = 0
    for p in inventory.positions():
        qty = inventory.closable_qty(p.symbol)
        mark = inventory.mark_price(p.symbol)
        if not qty or mark is None or qty * mark <= max_order_notional:
            continue
        slices = int((qty * mark / (max_order_notional / 2)).to_integral_value(ROUND_CEILING))
        spec = ParentOrder(p.symbol, Side.of(-p.qty), qty, Algo.TWAP, duration_s,
                           min(max(slices, 2), MAX_SLICES))
        try:
            parent = await algos.start(spec, FLATTEN)
        except AlgoRefused as err:
            _log.warning("flatten.twap_refused", symbol=p.symbol, reason=str(err))
            continue
        _log.info("flatten.twap", symbol=p.symbol, qty=qty, slices=spec.slices,
                  duration_s=duration_s, parent_id=parent.id)
        started += 1
    return started
