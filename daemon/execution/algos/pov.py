"""POV: a parent that takes `rate` of the market's traded volume until its quantity is done.

Traded volume is counted from the parent's start (`on_volume`); whenever `rate` of it, less what
the parent has filled or has working, is at least the instrument's minimum order, a market
child sends that much. So the parent's filled volume stays within `rate` of the market's, plus
or minus one child. Our own fills are not in the volume a paper market reports; on a venue they
are, and `rate` is then a share of a volume that includes them (slightly more conservative).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from daemon.model import ZERO


def child_qty(rate: Decimal, volume: Decimal, committed: Decimal, qty: Decimal,
              step: Decimal, min_qty: Decimal) -> Decimal:
    """What the next child should be (0: nothing due): `rate` of `volume`, capped at `qty`,
    less `committed` (filled plus working), on the size grid."""
    want = min(qty, rate * volume) - committed
    if want <= 0:
        return ZERO
    want = (want / step).to_integral_value(ROUND_FLOOR) * step
    return want if want > 0 and want >= min_qty else ZERO
