"""The venue's request limits, kept by us instead of ccxt's throttler.

ccxt's throttler (`enableRateLimit`) is a leaky bucket of capacity one: an idle client's request
waits for the throttler's own loop to wake, ~10 ms on loopback, the larger part of what a live
order spent between a trade and the wire. Binance's limits are windows — request weight per
minute, orders per 10 s and per day, published in `exchangeInfo.rateLimits` — so a request that
fits the window it falls in need not wait at all. `RequestBudget` keeps exact sliding windows
(a sliding window that never exceeds a limit cannot exceed it in any of the venue's fixed
windows either): under the limit a request costs a few additions and no await; over it, a
request waits until enough of the window has passed, and an order is refused unsent, with how
long until one fits (an order delayed past its moment is not the order the strategy asked for).
The 429/418 handling (`calls.py`) stays behind this, for limits we do not know of.

Both of the daemon's ccxt clients (the public feed's and the broker's) spend from one budget:
the venue counts request weight per IP.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from daemon.clock import Clock
from daemon.ops import log

_log = log.get("ccxt_budget")
SECOND_NS = 1_000_000_000
_INTERVAL_NS = {"SECOND": SECOND_NS, "MINUTE": 60 * SECOND_NS, "HOUR": 3600 * SECOND_NS,
                "DAY": 86_400 * SECOND_NS}


class SlidingWindow:
    """At most `limit` units within any `window_ns`: exact, by remembering each spend."""

    __slots__ = ("_spent", "_total", "limit", "window_ns")

    def __init__(self, limit: int, window_ns: int) -> None:
        self.limit = limit
        self.window_ns = window_ns
        self._spent: deque[tuple[int, int]] = deque()
        self._total = 0

    def wait_ns(self, units: int, now_ns: int) -> int:
        """How long until `units` fit (0: now). A spend larger than the whole limit fits an
        empty window, or it would never go."""
        spent = self._spent
        horizon = now_ns - self.window_ns
        while spent and spent[0][0] <= horizon:
            self._total -= spent.popleft()[1]
        excess = self._total + units - self.limit
        if excess <= 0 or not spent:
            return 0
        freed = 0
        for at, amount in spent:
            freed += amount
            if freed >= excess:
                return at + self.window_ns - now_ns
        return spent[-1][0] + self.window_ns - now_ns

    def spend(self, units: int, now_ns: int) -> None:
        self._spent.append((now_ns, units))
        self._total += units


class RequestBudget:
    def __init__(self, clock: Clock, weight_per_minute: int, orders: list[tuple[int, int]]
                 ) -> None:
        """`orders`: (limit, window_ns) pairs, e.g. 100 per 10 s and 200,000 per day."""
        self._clock = clock
        self.weight = SlidingWindow(weight_per_minute, 60 * SECOND_NS)
        self.orders = [SlidingWindow(limit, window) for limit, window in orders]
        self.delayed = 0  # requests that had to wait, for the log and tests
        self.refused = 0  # orders refused unsent

    async def spend(self, weight: float | int | None) -> None:
        """Wait until a request of this weight fits the minute, then count it."""
        units = max(1, int(weight or 1))
        clock = self._clock
        while (wait := self.weight.wait_ns(units, clock.monotonic_ns())) > 0:
            self.delayed += 1
            await clock.sleep(wait / 1e9)
        self.weight.spend(units, clock.monotonic_ns())

    def admit_order(self) -> float:
        """Count an order that may go now (0.0); else, unsent, the seconds until one fits."""
        now = self._clock.monotonic_ns()
        wait = max((w.wait_ns(1, now) for w in self.orders), default=0)
        if wait > 0:
            self.refused += 1
            return wait / 1e9
        for window in self.orders:
            window.spend(1, now)
        return 0.0


def published_limits(exchange_info: Any) -> tuple[int | None, list[tuple[int, int]]]:
    """Request weight per minute and the order windows from Binance's `exchangeInfo`
    `rateLimits`; (None, []) for what it does not say."""
    weight: int | None = None
    orders: list[tuple[int, int]] = []
    rows = exchange_info.get("rateLimits") if isinstance(exchange_info, dict) else None
    for row in rows if isinstance(rows, list) else []:
        try:
            kind, limit = str(row["rateLimitType"]), int(row["limit"])
            window = _INTERVAL_NS[str(row["interval"])] * int(row.get("intervalNum", 1))
        except (KeyError, TypeError, ValueError):
            continue
        if limit <= 0:
            continue
        if kind == "REQUEST_WEIGHT" and window == 60 * SECOND_NS:
            weight = limit if weight is None else min(weight, limit)
        elif kind == "ORDERS":
            orders.append((limit, window))
    return weight, orders


async def for_exchange(exchange: Any, clock: Clock, weight_per_minute: int,
                       orders_per_10s: int, orders_per_day: int) -> RequestBudget:
    """The budget for this venue: what it publishes where it does (Binance spot's
    `exchangeInfo`), what the config says over that, and ccxt's own rate (one request per
    `rateLimit` ms, as weight) where neither says."""
    published_weight: int | None = None
    published_orders: list[tuple[int, int]] = []
    fetch = getattr(exchange, "publicGetExchangeInfo", None)
    if fetch is not None:
        try:
            published_weight, published_orders = published_limits(await fetch())
        except Exception as err:
            _log.warning("budget.limits_unpublished", error=type(err).__name__)
    fallback = max(1, int(60_000 / max(1.0, float(getattr(exchange, "rateLimit", 50) or 50))))
    weight = weight_per_minute or published_weight or fallback
    orders = list(published_orders)
    if orders_per_10s:
        orders = [w for w in orders if w[1] != 10 * SECOND_NS] + [(orders_per_10s,
                                                                    10 * SECOND_NS)]
    if orders_per_day:
        orders = [w for w in orders if w[1] != _INTERVAL_NS["DAY"]] + [
            (orders_per_day, _INTERVAL_NS["DAY"])]
    _log.info("budget.limits", request_weight_per_minute=weight,
              orders={f"{w // SECOND_NS}s": n for n, w in orders},
              source="config" if weight_per_minute else ("venue" if published_weight
                                                          else "ccxt rateLimit"))
    return RequestBudget(clock, weight, orders)
