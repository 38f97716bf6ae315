"""The ccxt broker's REST calls: one rate-limit backoff over all of them, errors accounted once.

When the venue answers 429 or 418 (Binance escalates repeated 429s to a 418 IP ban), every REST
call of the broker waits out the `Retry-After` of *that* response (`DEFAULT_BACKOFF_S` when it
sent none): order creation is refused meanwhile, and the caller is told for how long; polls and
lookups wait; reconciliation queries are refused without being sent; only an urgent call (a
flatten's cancel) goes anyway.

A lookup has three outcomes. `FOUND`; `NOT_FOUND` — the venue said so (ccxt `OrderNotFound`,
Binance -2013 / -2011); `UNKNOWN` — the venue did not answer (network, timeout, 5xx, rate
limit) or answered something that is not a report of that order (`ccxt_replies`). Only the
venue's own "not found" may ever end an order as never arrived.

Every exception out of a call is accounted for here, not only ccxt's: a reply ccxt's parser
chokes on raises `ValueError` or `TypeError`, and that is a failed call like a 5xx.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

from daemon.clock import Clock
from daemon.ops import log
from daemon.ops.log_limit import LimitedLog
from daemon.ops.metrics import Metrics
from daemon.venues.base import BrokerError, FatalBrokerError
from daemon.venues.ccxt import replies as ccxt_replies
from daemon.venues.ccxt.client import ErrorKind, classify, error_label, retry_after_s

_log = log.get("ccxt_broker")
DEFAULT_BACKOFF_S = 10.0  # a 429/418 without Retry-After
TRANSIENT = frozenset({ErrorKind.AMBIGUOUS, ErrorKind.RATE_LIMIT, ErrorKind.MALFORMED,
                       ErrorKind.UNKNOWN})
# A create that failed this way may have placed the order: look it up, never resend.
OUTCOME_UNKNOWN = frozenset({ErrorKind.AMBIGUOUS, ErrorKind.MALFORMED, ErrorKind.UNKNOWN})


class Lookup(enum.Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


class VenueCalls:
    def __init__(self, exchange: Any, metrics: Metrics, clock: Clock) -> None:
        self._ex = exchange
        self._metrics = metrics
        self._clock = clock
        self._backoff_until_ns = 0
        # Told of every reply that could not be read: the breaker on unreadable venues.
        self.on_malformed: list[Callable[[], None]] = []
        self._malformed_log = LimitedLog(_log, "exchange.malformed_reply", burst=3)

    # --- the rate-limit backoff ---------------------------------------------------------------

    def backoff_remaining_s(self) -> float:
        return max(0.0, (self._backoff_until_ns - self._clock.monotonic_ns()) / 1e9)

    def rate_limited(self, err: BaseException) -> float:
        """Back off for what this response asked; a later, longer ban extends it."""
        pause = retry_after_s(err)
        if pause is None:
            pause = DEFAULT_BACKOFF_S
        until = self._clock.monotonic_ns() + int(pause * 1e9)
        self._backoff_until_ns = max(self._backoff_until_ns, until)
        _log.warning("exchange.rate_limited", pause_s=round(pause, 3), error=error_label(err),
                     backoff_s=round(self.backoff_remaining_s(), 3))
        return pause

    async def wait_backoff(self, max_s: float | None = None) -> bool:
        """Wait until the backoff is over (True), or at most `max_s` (False if still on)."""
        waited = 0.0
        while (remaining := self.backoff_remaining_s()) > 0:
            if max_s is not None and waited >= max_s:
                return False
            pause = remaining if max_s is None else min(remaining, max_s - waited)
            await self._clock.sleep(pause)
            waited += pause
        return True

    # --- errors -------------------------------------------------------------------------------

    def failed(self, err: BaseException) -> ErrorKind:
        """Account for a failed call: count it, back off on a rate limit, and stop the daemon
        on refused credentials (a restart will not fix a bad key)."""
        kind = classify(err)
        if kind is not ErrorKind.ORDER_NOT_FOUND:
            self._metrics.exchange_errors.labels(error_label(err)).inc()
        if kind is ErrorKind.AUTH:
            raise FatalBrokerError("auth", f"the exchange refused our credentials: {err}")
        if kind is ErrorKind.RATE_LIMIT:
            self.rate_limited(err)
        if kind is ErrorKind.MALFORMED:
            self._malformed_log.hit(error=type(err).__name__,
                                    detail=ccxt_replies.short(str(err), 200))
            for listener in self.on_malformed:
                listener()
        return kind

    # --- calls --------------------------------------------------------------------------------

    async def lookup(self, client_order_id: str,
                     symbol: str) -> tuple[Lookup, dict[str, Any] | None]:
        try:
            found = ccxt_replies.order_report(await self._ex.fetch_order(
                "", symbol, {"clientOrderId": client_order_id}), client_order_id, symbol)
        except Exception as err:  # not only ccxt's: a reply its parser chokes on too
            if self.failed(err) is ErrorKind.ORDER_NOT_FOUND:
                return Lookup.NOT_FOUND, None
            return Lookup.UNKNOWN, None
        return Lookup.FOUND, found

    async def trades_of(self, venue_order_id: str, symbol: str) -> list[dict[str, Any]] | None:
        """Every trade of one order; None when the venue did not answer (readably)."""
        try:
            return ccxt_replies.trade_list(await self._ex.fetch_my_trades(
                symbol, None, 1000, {"orderId": venue_order_id}))
        except Exception as err:
            self.failed(err)
            return None

    async def ask(self, what: str, call: Callable[[], Awaitable[Any]],
                  check: Callable[[Any], Any] = lambda reply: reply) -> Any:
        """A reconciliation query: refused unsent while backing off (the caller retries
        later); refused credentials are fatal, any other failure a BrokerError. `check` turns
        the reply into the answer or raises `MalformedReply` (`ccxt_replies`)."""
        remaining = self.backoff_remaining_s()
        if remaining > 0:
            raise BrokerError("rate_limited", f"{what}: backing off for the venue's rate "
                              f"limit, {remaining:.1f}s left", retry_after_s=remaining)
        try:
            return check(await call())
        except Exception as err:  # ccxt's errors and whatever its parser raised
            kind = self.failed(err)
            if kind is ErrorKind.RATE_LIMIT:
                raise BrokerError("rate_limited", f"{what}: {err}",
                                  retry_after_s=self.backoff_remaining_s()) from None
            raise BrokerError(kind.value, f"{what}: {err}") from None
