"""Orders whose create had no clear outcome, looked up by client id until the venue says.

A create is *ambiguous* when it timed out, got a 5xx or a network error, or was answered with
something that is not a report of this order (an HTML page, a body ccxt's parser raised on:
`ccxt_replies`). The venue may have placed it, so it is never resent; it is looked up by client
id, and a lookup has three outcomes (`ccxt_calls.Lookup`): found — booked as the venue reports
it; not found — final only once `order_lookup_s` (longer than the venue's recvWindow, after
which the venue itself refuses the request) has passed since the create failed, and then the
order never arrived (`lost_in_transit`); unknown — the venue did not answer readably.

`resolve_now` (the create's caller waits) looks for the length of that window: lookups
`LOOKUP_BACKOFF` apart, the last one at the window's end, so with a venue that answers the order
is resolved within `order_lookup_s` plus one lookup. If it has still not answered, the order
stays working in the books (the risk gate counts it, the strategy waits for it) and `poll`, run
by the broker's loop, keeps asking with jittered backoff (0.5 s doubling up to
`max(1, reconnect_max_s)`) until the venue answers.

An order the venue confirmed and later says it does not know (the create's answer was a
plausible lie, or the venue lost it) is *doubted*: unconfirmed again, with a new window.

Logged as a warning when it starts (`order.outcome_unknown`, `order.unknown_to_venue`), at the
window's end if unresolved (`order.unresolved`) and every `STILL_UNRESOLVED_LOG_S` after
(`order.still_unresolved`); counted (`tradingd_ambiguous_orders_total`), gauged while
unresolved (`tradingd_unresolved_orders`), listed for `/status` (`OrderTracker.unresolved`).
"""

from __future__ import annotations

from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.retry import backoff_s
from daemon.venues.ccxt import replies as ccxt_replies
from daemon.venues.ccxt.calls import Lookup, VenueCalls
from daemon.venues.ccxt.client import error_label
from daemon.venues.ccxt.orders import OrderTracker, Unconfirmed

_log = log.get("ccxt_broker")
STILL_UNRESOLVED_LOG_S = 30.0  # an unresolved order is warned about again this often
LOOKUP_BACKOFF = (0.25, 2.0)  # first and longest pause between lookups inside the window


class Unresolved:
    def __init__(self, venue: VenueCalls, orders: OrderTracker, clock: Clock,
                 cfg: ExchangeConfig, metrics: Metrics) -> None:
        self._venue = venue
        self._orders = orders
        self._clock = clock
        self._cfg = cfg
        self._metrics = metrics
        self._unconfirmed = orders.unconfirmed
        self.creating: set[str] = set()  # creates in flight: no lookup is final meanwhile
        self._window_ns = int(cfg.order_lookup_s * 1e9)
        metrics.unresolved_orders.set_function(lambda: len(self._unconfirmed))

    async def create_failed(self, coid: str, symbol: str, err: BaseException) -> None:
        """A create whose outcome is unknown: find out what the venue did."""
        self._metrics.ambiguous_orders.inc()
        _log.warning("order.outcome_unknown", client_order_id=coid, symbol=symbol,
                     error=error_label(err), detail=ccxt_replies.short(str(err), 200),
                     window_s=self._cfg.order_lookup_s,
                     action="look up by client id, never resend")
        if coid in self._orders.acked:  # the user stream reported it meanwhile
            _log.info("order.found_after_ambiguous_create", client_order_id=coid,
                      status="reported by the user stream")
            return
        self.start_window(coid)
        await self.resolve_now(coid)

    def start_window(self, coid: str) -> None:
        """From now on, `order_lookup_s` decides. Called once the create has failed or been
        cut off, so after its request was signed: never earlier than its intent + window."""
        now = self._clock.monotonic_ns()
        u = self._unconfirmed.setdefault(coid, Unconfirmed(0, now))
        u.deadline_ns = max(u.deadline_ns, now + self._window_ns)

    def doubt(self, coid: str) -> None:
        """The venue says it does not know an order it had confirmed: unconfirmed again, so
        that a whole window of "not found" ends it instead of leaving it working forever."""
        self._orders.acked.discard(coid)
        self._metrics.ambiguous_orders.inc()
        _log.warning("order.unknown_to_venue", client_order_id=coid,
                     window_s=self._cfg.order_lookup_s,
                     action="looked up by client id; lost_in_transit if the venue still does "
                            "not know it when the window has passed")
        self.start_window(coid)
        self._unconfirmed[coid].next_ns = self._clock.monotonic_ns()

    async def resolve_now(self, coid: str) -> None:
        """Look an unconfirmed order up until the venue answers or its window has passed;
        then, if the venue still has not answered, leave it working for `poll` to resolve."""
        u = self._unconfirmed.get(coid)
        if u is None:
            return
        u.blocking += 1
        attempt = 0
        try:
            while coid in self._unconfirmed:
                left_s = (u.deadline_ns - self._clock.monotonic_ns()) / 1e9
                if not await self._venue.wait_backoff(max(0.0, left_s)):
                    break  # rate limited past the end of the window
                if await self._step(coid, u):
                    return
                left_s = (u.deadline_ns - self._clock.monotonic_ns()) / 1e9
                if left_s <= 0:
                    break
                attempt += 1
                pause = backoff_s(attempt, *LOOKUP_BACKOFF, floor_s=0.1)
                await self._clock.sleep(min(pause, left_s))
        finally:
            u.blocking -= 1
        if coid in self._unconfirmed:
            u.next_ns = self._clock.monotonic_ns()
            _log.warning("order.unresolved", client_order_id=coid, lookups=u.lookups,
                         window_s=self._cfg.order_lookup_s,
                         action="the venue has not answered: left working, never resent; "
                                "looked up in the background until it answers")

    async def _step(self, coid: str, u: Unconfirmed) -> bool:
        """One lookup of an unconfirmed order; True once it is settled either way."""
        order = self._orders.open.get(coid)
        if order is None or coid in self._orders.acked:
            self._unconfirmed.pop(coid, None)  # settled meanwhile, by another path
            return True
        asked_ns = self._clock.monotonic_ns()
        u.lookups += 1
        outcome, found = await self._venue.lookup(coid, order.symbol)
        if outcome is Lookup.FOUND and found is not None:
            await self._orders.on_order(found, coid)  # acknowledges it: no longer unconfirmed
            self._unconfirmed.pop(coid, None)
            return True
        if outcome is Lookup.NOT_FOUND and asked_ns >= u.deadline_ns \
                and coid not in self.creating:
            await self._orders.lost(coid)
            return True
        return False

    def due_ns(self) -> list[int]:
        """When the background lookups are due (orders a caller is resolving now excluded)."""
        return [u.next_ns for u in self._unconfirmed.values() if not u.blocking]

    async def poll(self) -> None:
        """Background lookups of the unconfirmed orders that are due, each with its backoff."""
        max_s = max(1.0, float(self._cfg.reconnect_max_s))
        for coid, u in list(self._unconfirmed.items()):
            if u.blocking or u.next_ns > self._clock.monotonic_ns():
                continue
            if self._venue.backoff_remaining_s() > 0 or await self._step(coid, u):
                continue
            u.attempt += 1
            pause = backoff_s(u.attempt, 0.5, max_s, floor_s=0.25)
            now = self._clock.monotonic_ns()
            u.next_ns = now + int(pause * 1e9)
            if now - u.warned_ns >= int(STILL_UNRESOLVED_LOG_S * 1e9):
                u.warned_ns = now
                _log.warning("order.still_unresolved", client_order_id=coid,
                             attempt=u.attempt, lookups=u.lookups,
                             unresolved_s=round((now - u.since_ns) / 1e9, 3),
                             next_lookup_s=round(pause, 3),
                             action="left working, never resent; the venue must answer")
