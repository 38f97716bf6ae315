"""Backoff for retries and reconnects: exponential with full jitter, bounded."""

from __future__ import annotations

import random


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with full jitter: spreads reconnects of many daemons apart."""
    return float(random.uniform(0, min(max_s, base_s * 2 ** attempt)))
