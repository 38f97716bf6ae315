"""TWAP: a parent's quantity in `slices` children, evenly over `duration_s`.

Each slice's child goes out at a random moment in the first `JITTER` of its window, from an RNG
seeded by the parent (its `seed`, else its id), so a replay sends the same children at the same
times while a live market cannot read the schedule off a clock. A slice sends what brings the
parent to its cumulative target (`target_through`) counting everything filled or still working:
a denied or unfilled slice is caught up by the next one, and nothing is ever sent twice.
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal

JITTER = 0.8  # of a slice's window: leaves a limit at the touch time to work before the next


def schedule(start_ns: int, duration_s: float, slices: int, seed: int) -> list[int]:
    """When each slice's child goes out (data time, ns), in order."""
    rng = random.Random(seed)
    window = duration_s * 1e9 / slices
    return [start_ns + int(i * window + rng.random() * JITTER * window) for i in range(slices)]


def target_through(qty: Decimal, slices: int, index: int, step: Decimal) -> Decimal:
    """How much of `qty` should be done once slice `index` (0-based) has gone out: an even share
    per slice, on the venue's size grid, and all of it at the last."""
    if index >= slices - 1:
        return qty
    share = qty * (index + 1) / slices
    return (share / step).to_integral_value(ROUND_FLOOR) * step
