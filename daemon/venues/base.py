"""The venue protocols: `Broker` (where approved orders go) and `MarketDataSource` (where
prices come from), the one interface for the paper account, replays and real venues.

A broker accepts only `ApprovedOrder` (made by the risk gate) and reports what happened as
`BrokerEvent`s on a bounded queue that the fill handler drains. Fills are never dropped: a full
queue makes the producer wait.

A source's `stream()` yields tick batches until cancelled. It keeps its state on the object,
not in the generator, so the shutdown phase can call `stream()` again and carry on where
trading left off (the flatten needs prices after the trading tasks are gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Protocol

import msgspec

from daemon.events import BrokerEvent, FundingPaid
from daemon.model import Bar, Fill, OrderType, Side, TickBatch
from daemon.risk.gate import ApprovedOrder

EVENT_QUEUE_SIZE = 10_000


class BrokerError(Exception):
    """A request failed in a way the caller must handle (the order was not placed).

    `retry_after_s`: the venue asked us to slow down (HTTP 429/418) for this long; the router
    then pauses new orders at the risk gate instead of sending ones the venue would refuse."""

    def __init__(self, reason: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason  # bounded code, usable as a metric label
        self.retry_after_s = retry_after_s


class FatalBrokerError(BrokerError):
    """The venue will not work with us (bad credentials, banned key): halt and exit."""


class VenueOrder(msgspec.Struct, frozen=True):
    """An order as the venue reports it, for reconciliation. `status` is one of open, filled,
    cancelled (also expired), rejected."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    filled_qty: Decimal
    status: str
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None


class UnresolvedOrder(msgspec.Struct, frozen=True):
    """An order whose create had no clear outcome and that the venue has not confirmed or
    denied yet: it stays working in the books (never resent) while it is looked up."""

    client_order_id: str
    symbol: str
    unresolved_ms: int  # since the create failed
    window_left_ms: int  # until a "not found" from the venue is final (0: passed)
    lookups: int


class Broker(Protocol):
    @property
    def events(self) -> asyncio.Queue[BrokerEvent]: ...

    async def run(self) -> None:
        """Pump venue events (websocket, polling) into `events` until cancelled; returns at
        once for a broker that has none. The fill handling task runs it."""

    async def close(self) -> None: ...

    async def submit(self, order: ApprovedOrder) -> None:
        """Send an order. Acks, rejections and fills arrive later as events."""

    async def settled(self) -> None:
        """Return once every order and cancel handed over has been acted on: sent to the venue,
        or on paper worked, its events on the queue."""

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        """Ask for a cancel; the outcome arrives as an event."""

    async def on_market(self, batch: TickBatch) -> None:
        """See market data (the paper broker fills against it; a venue ignores it)."""

    async def market_ended(self) -> None:
        """The market data ran out (a replay's end): no later trade will come. The paper
        broker then works what it holds at the last trade; a venue ignores it."""

    # --- reconciliation: direct questions to the venue, before and between trading ---------
    # These raise BrokerError when the venue cannot answer (the caller retries) and never
    # put events on the queue: the reconciler books what they return.

    @property
    def lookup_window_s(self) -> float:
        """How long after its intent an order may still appear on the venue (0: no venue)."""

    async def query_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """The venue's view of one of our orders; None when the venue does not know it."""

    async def query_fills(self, order: VenueOrder) -> list[Fill]:
        """Every trade of one order."""

    async def query_open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        """Open orders carrying our client-id prefix."""

    async def query_holdings(self, assets: list[str]) -> dict[str, Decimal]:
        """Free + locked balance per asset; empty when the broker has no venue account."""

    async def query_positions(self, symbols: list[str]) -> dict[str, Decimal]:
        """The venue's signed position per swap symbol among `symbols`; empty when the broker
        has no venue account (or none of them is a swap)."""

    async def query_funding(self, symbol: str, since_ns: int) -> list[FundingPaid]:
        """The venue's funding settlements of a swap from `since_ns` on (none on paper)."""

    def track(self, order: VenueOrder) -> None:
        """Follow a recovered open order (fills, end) as if this run had sent it."""

    def unresolved_orders(self) -> list[UnresolvedOrder]:
        """Orders whose create had no clear outcome, still being looked up (none on paper)."""

    def watch_malformed_replies(self, listener: Callable[[], None]) -> None:
        """Call `listener` for each venue answer that could not be read (the circuit breaker
        on unreadable venues); a broker without a venue never calls it."""


class MarketDataSource(Protocol):
    @property
    def path(self) -> str:
        """Which path is live (`sim`, `replay`, `websocket`, `rest`): a metric label."""

    async def run(self) -> None:
        """Background I/O feeding `stream()` (websockets, polling) until cancelled; returns at
        once for a source that has none. The market data task runs it."""

    def stream(self) -> AsyncIterator[TickBatch]: ...

    async def close(self) -> None: ...


class HistorySource(Protocol):
    async def bars(self, symbol: str, interval_s: int, count: int, end_ns: int) -> list[Bar]:
        """Up to `count` closed bars of `symbol` ending at or before `end_ns`, oldest first, on
        the daemon's epoch-aligned grid (a strategy's warm-up). Raises on any failure: the
        caller falls back to warming up live."""
