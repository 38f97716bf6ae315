"""The orders the ccxt broker follows, and the venue's reports about them turned into events.

Whatever the source of a report (the create or cancel reply, the user-data websocket, a REST
lookup), it goes through `on_order` / `on_trade`, which keep one order of events per order:
accepted, then fills, then its end. An ended order (cancelled, expired, rejected, filled) has
its trades read from the venue's REST record unless the report itself carried them all, and its
end is put on the queue only after them; until the venue lists them all the order stays
followed, and the broker's poll asks again. An order's end is reported once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.clock import Clock
from daemon.events import BrokerEvent, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.model import ZERO, Fill, Side
from daemon.ops import log
from daemon.risk.gate import ApprovedOrder
from daemon.venues.base import UnresolvedOrder, VenueOrder
from daemon.venues.ccxt.calls import VenueCalls
from daemon.venues.ccxt.fills import FillParser

_log = log.get("ccxt_broker")
DONE = frozenset({"closed", "canceled", "cancelled", "rejected", "expired"})
Tracked = ApprovedOrder | VenueOrder


@dataclass
class Unconfirmed:
    """An order whose create failed ambiguously and that the venue has not confirmed yet."""

    deadline_ns: int  # monotonic: a "not found" asked for from here on means it never arrived
    since_ns: int = 0  # monotonic: when its create failed (or it was found unconfirmed)
    blocking: int = 0  # callers (submit, cancel) resolving it now: the poll leaves it alone
    attempt: int = 0  # background lookups that did not settle it
    next_ns: int = 0  # when the poll asks next
    lookups: int = 0  # lookups asked, by anyone
    warned_ns: int = 0  # when `order.still_unresolved` was last logged


class OrderTracker:
    def __init__(self, venue: VenueCalls, fills: FillParser,
                 events: asyncio.Queue[BrokerEvent], clock: Clock, prefix: str) -> None:
        self._venue = venue
        self._fills = fills
        self._events = events
        self._clock = clock
        self._prefix = prefix
        self.open: dict[str, Tracked] = {}  # client id -> order we follow until its end
        self.unconfirmed: dict[str, Unconfirmed] = {}  # of those, creates not yet confirmed
        self.acked: set[str] = set()
        self._sides: dict[str, Side] = {}  # client id -> side, kept after the order is done
        self._venue_ids: dict[str, str] = {}  # venue order id -> client id

    def owns(self, client_order_id: str | None) -> bool:
        return bool(client_order_id) and str(client_order_id).startswith(self._prefix)

    def follow(self, order: Tracked, acked: bool = False) -> None:
        self.open[order.client_order_id] = order
        self._sides[order.client_order_id] = order.side
        if acked and isinstance(order, VenueOrder):
            self.acked.add(order.client_order_id)
            self._venue_ids[order.venue_order_id] = order.client_order_id

    def unresolved(self) -> list[UnresolvedOrder]:
        """The orders whose create is still unconfirmed, for an operator (`/status`)."""
        now = self._clock.monotonic_ns()
        out = []
        for coid, u in self.unconfirmed.items():
            order = self.open.get(coid)
            out.append(UnresolvedOrder(
                coid, order.symbol if order is not None else "", (now - u.since_ns) // 1_000_000,
                max(0, u.deadline_ns - now) // 1_000_000, u.lookups))
        return out

    def fill(self, t: dict[str, Any], client_order_id: str, side: Side) -> Fill | None:
        """A trade of an order the reconciler asks about, validated like every other."""
        self._sides[client_order_id] = side
        return self._fills.fill(t, client_order_id, side)

    async def lost(self, coid: str) -> None:
        """The venue does not know the order once its window has passed: it never arrived."""
        self.unconfirmed.pop(coid, None)
        if self.open.pop(coid, None) is not None:
            await self._events.put(OrderRejected(
                coid, "lost_in_transit", "the venue does not know it after the lookup window: "
                "the request never arrived", self._clock.now_ns()))

    async def on_order(self, o: dict[str, Any], client_order_id: str | None,
                       urgent: bool = False) -> None:
        """Book one report of an order's state. `urgent`: read its trades even while backing
        off from a rate limit (a flatten's cancel needs the position right)."""
        coid = our_client_id(o, client_order_id, self.owns)
        if coid is None:
            return
        venue_id = str(o.get("id") or "")
        if venue_id:
            self._venue_ids[venue_id] = coid
        if coid not in self.acked and venue_id:
            self.acked.add(coid)
            if self.unconfirmed.pop(coid, None) is not None:
                _log.info("order.found_after_ambiguous_create", client_order_id=coid,
                          status=o.get("status"))
            await self._events.put(OrderAccepted(coid, venue_id, self._clock.now_ns()))
        booked = ZERO
        for t in o.get("trades") or []:
            fill = await self.on_trade({**t, "order": t.get("order") or venue_id}, coid)
            booked += fill.qty if fill is not None else ZERO
        status = o.get("status")
        order = self.open.get(coid)
        if status not in DONE or order is None:
            return
        if status == "closed" and _decimal(o.get("filled")) != order.qty:
            return  # "filled" short of the whole quantity ends nothing: followed until it is
        if not await self._last_trades(o, coid, order.symbol, booked, urgent):
            return
        if self.open.pop(coid, None) is None:
            return  # another report of the same end got here first
        self.unconfirmed.pop(coid, None)
        now = self._clock.now_ns()
        if status in ("canceled", "cancelled"):
            await self._events.put(OrderCancelled(coid, now))
        elif status == "expired":  # an IOC/FOK order's unfilled rest
            await self._events.put(OrderCancelled(coid, now, "expired"))
        elif status == "rejected":
            await self._events.put(OrderRejected(coid, "venue_rejected", str(o.get("info")), now))

    async def _last_trades(self, o: dict[str, Any], coid: str, symbol: str, booked: Decimal,
                           urgent: bool) -> bool:
        """Put every trade of an ended order on the queue; False if the venue has not listed
        them all yet (or cannot be asked now)."""
        filled = _decimal(o.get("filled"))
        if filled is not None and filled <= booked:
            return True  # the report carried them all (a market order's create reply)
        venue_id = str(o.get("id") or "")
        if not venue_id or (not urgent and self._venue.backoff_remaining_s() > 0):
            return False
        trades = await self._venue.trades_of(venue_id, symbol)
        if trades is None:
            return False
        listed = ZERO
        for t in trades:
            fill = await self.on_trade(t, coid)
            listed += fill.qty if fill is not None else ZERO
        if filled is not None and listed < filled:
            _log.warning("order.trades_pending", client_order_id=coid, filled=filled,
                         listed=listed, action="its end waits until its trades are booked")
            return False
        return True

    async def on_trade(self, t: dict[str, Any], coid: str | None = None) -> Fill | None:
        info = t.get("info") or {}
        coid = coid or (info.get("c") if isinstance(info, dict) else None) or self._venue_ids.get(
            str(t.get("order") or ""))
        if not self.owns(coid):
            return None
        assert coid is not None
        fill = self._fills.fill(t, coid, self._sides.get(coid))
        if fill is not None:
            await self._events.put(OrderFilled(fill))
        return fill


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value is not None else None
    except (InvalidOperation, ValueError):
        return None
    return number if number is not None and number.is_finite() else None


def our_client_id(o: dict[str, Any], known: str | None, owns: Any) -> str | None:
    """The order's client id. A cancel's reply (and its execution report) carries the cancel
    request's own id in `clientOrderId` and the order's in `origClientOrderId` / `C`."""
    raw = o.get("info")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for candidate in (known, o.get("clientOrderId"), info.get("origClientOrderId"),
                      info.get("C"), info.get("c")):
        if candidate and owns(candidate):
            return str(candidate)
    return None
