"""Order-rate throttles: token buckets on integer nanoseconds, exact by construction.

A bucket holds at most `capacity` tokens and refills `capacity` tokens per `period_ns`. Tokens
are counted in units of 1/period_ns of a token, so refill is integer arithmetic and the bound the
property tests check — at most `capacity + capacity * (t2 - t1) / period_ns` takes in any
interval [t1, t2] — holds exactly, with no float drift at the edges.
"""

from __future__ import annotations

import enum

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS


class TokenBucket:
    __slots__ = ("_capacity", "_full", "_last_ns", "_period_ns", "_units")

    def __init__(self, capacity: int, period_ns: int, now_ns: int) -> None:
        self._capacity = capacity
        self._period_ns = period_ns
        self._full = capacity * period_ns
        self._units = self._full  # starts full
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        # A clock that steps back refills nothing; it never takes tokens away either.
        if now_ns > self._last_ns:
            self._units = min(self._full,
                              self._units + (now_ns - self._last_ns) * self._capacity)
            self._last_ns = now_ns

    def available(self, now_ns: int) -> bool:
        self._refill(now_ns)
        return self._units >= self._period_ns

    def take_available(self) -> None:
        """Take the token `available` just found (no second refill, no debt to bound)."""
        self._units -= self._period_ns

    def take(self, now_ns: int) -> None:
        """Take one token; without one, owe it (at most a full bucket's worth of debt)."""
        self._refill(now_ns)
        self._units = max(-self._full, self._units - self._period_ns)

    def resize(self, capacity: int, now_ns: int) -> None:
        """A new capacity (config reload) that keeps what was spent: no free burst."""
        self._refill(now_ns)
        self._capacity = capacity
        self._full = capacity * self._period_ns
        self._units = min(self._units, self._full)


class Limited(enum.Enum):
    PER_SECOND = "per_second"
    PER_MINUTE = "per_minute"


class OrderThrottle:
    """Both order-rate limits; an order takes a token from each bucket or from neither."""

    __slots__ = ("_per_minute", "_per_second")

    def __init__(self, per_second: int, per_minute: int, now_ns: int) -> None:
        self._per_second = TokenBucket(per_second, SECOND_NS, now_ns)
        self._per_minute = TokenBucket(per_minute, MINUTE_NS, now_ns)

    def try_take(self, now_ns: int) -> Limited | None:
        """Take one token from both buckets; or name the bucket that is empty and take none."""
        if not self._per_second.available(now_ns):
            return Limited.PER_SECOND
        if not self._per_minute.available(now_ns):
            return Limited.PER_MINUTE
        self._per_second.take_available()
        self._per_minute.take_available()
        return None

    def spend(self, now_ns: int) -> None:
        """Count an order that may not be refused (the daemon's own flatten) against both:
        an empty bucket goes into debt, so later orders wait for it."""
        self._per_second.take(now_ns)
        self._per_minute.take(now_ns)

    def resize(self, per_second: int, per_minute: int, now_ns: int) -> None:
        self._per_second.resize(per_second, now_ns)
        self._per_minute.resize(per_minute, now_ns)
