"""Backoff for retries and reconnects: exponential with full jitter, bounded."""

from __future__ import annotations

import random

_MAX_DOUBLINGS = 32  # 2**32 x any base is past every cap; a longer outage must not overflow


def backoff_s(attempt: int, base_s: float, max_s: float, floor_s: float = 0.0) -> float:
    """Exponential backoff with full jitter: spreads reconnects of many daemons apart.

    The pause is uniform in [floor_s, min(max_s, base_s * 2**attempt)]; `floor_s` keeps a
    retry loop from spinning when the draw lands near zero. Any attempt number is safe."""
    cap = min(max_s, base_s * 2 ** min(max(attempt, 0), _MAX_DOUBLINGS))
    return float(random.uniform(floor_s, max(floor_s, cap)))
