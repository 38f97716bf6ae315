"""The exchange broker: approved orders to a venue through ccxt, fills back exactly once.

Every order carries the client id the inventory recorded before the request. Creation is never
retried blindly: when the outcome is ambiguous (timeout, 5xx, network error) the order is looked
up by client id until it is found or `order_lookup_s` — longer than the venue's recvWindow,
after which the venue itself refuses the request — has passed. Fills come from the user-data
websocket (`watch_my_trades`, `watch_orders`) and from a REST poll that catches what a dropped
socket missed; the inventory books each trade id once, so both paths may report the same fill.
Only orders whose client id carries our prefix are ours: the operator's own trades on the same
account are never booked or touched.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from daemon import log
from daemon.broker.base import EVENT_QUEUE_SIZE, BrokerError, FatalBrokerError, VenueOrder
from daemon.ccxt_support import (
    BaseError,
    ErrorKind,
    classify,
    error_label,
    retry_after_s,
)
from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.events import BrokerEvent, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.metrics import Metrics
from daemon.model import ZERO, Fill, Instrument, OrderType, Side
from daemon.retry import backoff_s
from daemon.risk import ApprovedOrder

_log = log.get("ccxt_broker")
MS = 1_000_000
DEFAULT_BACKOFF_S = 10.0
_DONE = {"closed", "canceled", "cancelled", "rejected", "expired"}
_STATUS = {"open": "open", "closed": "filled", "canceled": "cancelled", "cancelled": "cancelled",
           "expired": "cancelled", "rejected": "rejected"}
Tracked = ApprovedOrder | VenueOrder


class CcxtBroker:
    def __init__(self, exchange: Any, instruments: dict[str, Instrument], cfg: ExchangeConfig,
                 metrics: Metrics, clock: Clock, client_id_prefix: str) -> None:
        self._ex = exchange
        self._instruments = instruments
        self._cfg = cfg
        self._metrics = metrics
        self._clock = clock
        self._prefix = client_id_prefix + "-"
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._open: dict[str, Tracked] = {}  # client id -> order we still track
        self._sides: dict[str, Side] = {}  # client id -> side, kept after the order is done
        self._acked: set[str] = set()
        self._venue_ids: dict[str, str] = {}  # venue order id -> client id
        self._backoff_until_ns = 0
        self._fee_warned: set[str] = set()

    @property
    def events(self) -> asyncio.Queue[BrokerEvent]:
        return self._events

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        try:
            await self._ex.close()
        except Exception as err:
            _log.warning("ccxt_broker.close_failed", error=repr(err))

    async def on_market(self, batch: Any) -> None:
        return None

    def balances(self) -> dict[str, Decimal]:
        return {}

    def owns(self, client_order_id: str | None) -> bool:
        return bool(client_order_id) and str(client_order_id).startswith(self._prefix)

    # --- commands ---------------------------------------------------------------------------

    async def submit(self, order: ApprovedOrder) -> None:
        if self._clock.monotonic_ns() < self._backoff_until_ns:
            raise BrokerError("rate_limited", "backing off after the venue's rate limit")
        self._open[order.client_order_id] = order
        self._sides[order.client_order_id] = order.side
        sent_ns = self._clock.monotonic_ns()
        try:
            response = await self._ex.create_order(
                order.symbol, order.order_type.value, order.side.value, float(order.qty),
                float(order.limit_price) if order.limit_price is not None else None,
                {"clientOrderId": order.client_order_id})
        except BaseError as err:
            await self._create_failed(order, err)
            return
        self._metrics.ack_latency.observe((self._clock.monotonic_ns() - sent_ns) / 1e9)
        await self._on_order(response, order.client_order_id)

    async def _create_failed(self, order: ApprovedOrder, err: BaseException) -> None:
        kind = classify(err)
        self._metrics.exchange_errors.labels(error_label(err)).inc()
        if kind is ErrorKind.AMBIGUOUS or kind is ErrorKind.UNKNOWN:
            _log.warning("order.outcome_unknown", client_order_id=order.client_order_id,
                         error=error_label(err), action="look up by client id, never resend")
            await self._resolve(order)
            return
        self._open.pop(order.client_order_id, None)
        if kind is ErrorKind.AUTH:
            raise FatalBrokerError("auth", f"the exchange refused our credentials: {err}")
        if kind is ErrorKind.RATE_LIMIT:
            pause = retry_after_s(self._ex) or DEFAULT_BACKOFF_S
            self._backoff_until_ns = self._clock.monotonic_ns() + int(pause * 1e9)
            _log.warning("exchange.rate_limited", pause_s=pause, error=error_label(err))
            raise BrokerError("rate_limited", str(err))
        raise BrokerError(kind.value, str(err))

    async def _resolve(self, order: Tracked) -> None:
        """Find out whether an order whose request failed ambiguously exists."""
        deadline = self._clock.monotonic_ns() + int(float(self._cfg.order_lookup_s) * 1e9)
        attempt = 0
        while True:
            found = await self._lookup(order.client_order_id, order.symbol)
            if found is not None:
                _log.info("order.found_after_ambiguous_create",
                          client_order_id=order.client_order_id, status=found.get("status"))
                await self._on_order(found, order.client_order_id)
                return
            if self._clock.monotonic_ns() >= deadline:
                break
            attempt += 1
            await asyncio.sleep(min(backoff_s(attempt, 0.25, 2.0) + 0.1,
                                    max(0.0, (deadline - self._clock.monotonic_ns()) / 1e9)))
        self._open.pop(order.client_order_id, None)
        await self._events.put(OrderRejected(
            order.client_order_id, "lost_in_transit",
            "not on the venue after the lookup window: the request never arrived",
            self._clock.now_ns()))

    async def _lookup(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._ex.fetch_order(
                "", symbol, {"clientOrderId": client_order_id})
            return found
        except BaseError as err:
            if classify(err) is not ErrorKind.ORDER_NOT_FOUND:
                self._metrics.exchange_errors.labels(error_label(err)).inc()
                if classify(err) is ErrorKind.AUTH:
                    raise FatalBrokerError("auth", str(err)) from None
            return None

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        try:
            response = await self._ex.cancel_order("", symbol,
                                                   {"clientOrderId": client_order_id})
        except BaseError as err:
            kind = classify(err)
            self._metrics.exchange_errors.labels(error_label(err)).inc()
            if kind is ErrorKind.AUTH:
                raise FatalBrokerError("auth", str(err)) from None
            # Not found usually means it filled first: ask what became of it.
            found = await self._lookup(client_order_id, symbol)
            if found is not None:
                await self._on_order(found, client_order_id)
                return
            pending = self._open.get(client_order_id)
            if pending is not None and client_order_id not in self._acked:
                # Its create never answered (cut off by a shutdown, say): the same lookup
                # window as an ambiguous create decides whether it exists.
                await self._resolve(pending)
                return
            raise BrokerError(kind.value, str(err)) from None
        await self._on_order(response, client_order_id)

    # --- reconciliation queries -------------------------------------------------------------

    @property
    def lookup_window_s(self) -> float:
        return float(self._cfg.order_lookup_s)

    async def _ask(self, what: str, call: Any) -> Any:
        """A reconciliation query: auth failures are fatal, anything else a BrokerError."""
        try:
            return await call
        except BaseError as err:
            kind = classify(err)
            if kind is not ErrorKind.ORDER_NOT_FOUND:
                self._metrics.exchange_errors.labels(error_label(err)).inc()
            if kind is ErrorKind.AUTH:
                raise FatalBrokerError("auth", str(err)) from None
            raise BrokerError(kind.value, f"{what}: {err}") from None

    async def query_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            o = await self._ask("fetch_order", self._ex.fetch_order(
                "", symbol, {"clientOrderId": client_order_id}))
        except BrokerError as err:
            if err.reason == ErrorKind.ORDER_NOT_FOUND.value:
                return None
            raise
        return self._venue_order(o, client_order_id)

    async def query_fills(self, order: VenueOrder) -> list[Fill]:
        self._sides[order.client_order_id] = order.side
        trades = await self._ask("fetch_my_trades", self._ex.fetch_my_trades(
            order.symbol, None, 1000, {"orderId": order.venue_order_id}))
        fills = (self._fill_from_trade(t, order.client_order_id) for t in trades
                 if t.get("id") is not None)
        return [f for f in fills if f is not None]

    async def query_open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        out = []
        for symbol in symbols:
            for o in await self._ask("fetch_open_orders", self._ex.fetch_open_orders(symbol)):
                order = self._venue_order(o, None)
                if order is not None:
                    out.append(order)
        return out

    async def query_holdings(self, assets: list[str]) -> dict[str, Decimal]:
        balance = await self._ask("fetch_balance", self._ex.fetch_balance())
        return {a: Decimal(str((balance.get(a) or {}).get("total") or 0)) for a in assets}

    def track(self, order: VenueOrder) -> None:
        self._open[order.client_order_id] = order
        self._sides[order.client_order_id] = order.side
        self._acked.add(order.client_order_id)
        self._venue_ids[order.venue_order_id] = order.client_order_id

    def _venue_order(self, o: dict[str, Any], known: str | None) -> VenueOrder | None:
        coid = _our_client_id(o, known, self.owns)
        if coid is None or o.get("symbol") not in self._instruments:
            return None
        price = o.get("price")
        return VenueOrder(
            coid, str(o.get("id") or ""), str(o["symbol"]),
            Side.BUY if o.get("side") == "buy" else Side.SELL,
            Decimal(str(o.get("amount") or 0)), Decimal(str(o.get("filled") or 0)),
            _STATUS.get(str(o.get("status")), "open"),
            OrderType.LIMIT if o.get("type") == "limit" else OrderType.MARKET,
            Decimal(str(price)) if price and o.get("type") == "limit" else None)

    # --- venue events -----------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch("orders"), name="ws_orders")
            tg.create_task(self._watch("trades"), name="ws_my_trades")
            tg.create_task(self._poll(), name="rest_fills")

    async def _watch(self, what: str) -> None:
        attempt = 0
        while True:
            try:
                items = await (self._ex.watch_orders() if what == "orders"
                               else self._ex.watch_my_trades())
            except BaseError as err:
                if classify(err) is ErrorKind.AUTH:
                    raise FatalBrokerError("auth", str(err)) from None
                attempt += 1
                self._metrics.ws_reconnects.inc()
                self._metrics.exchange_errors.labels(error_label(err)).inc()
                pause = backoff_s(attempt, 0.5, float(self._cfg.reconnect_max_s))
                _log.warning("user_stream.reconnect", stream=what, attempt=attempt,
                             pause_s=round(pause, 3), error=error_label(err))
                await asyncio.sleep(pause)
                continue
            attempt = 0
            for item in items:
                if what == "orders":
                    await self._on_order(item, item.get("clientOrderId"))
                else:
                    await self._on_trade(item)

    async def _poll(self) -> None:
        """REST safety net: fills and order states a dropped socket did not deliver."""
        while True:
            await asyncio.sleep(float(self._cfg.fill_poll_s))
            for coid, order in list(self._open.items()):
                found = await self._lookup(coid, order.symbol)
                if found is not None:
                    await self._on_order(found, coid)

    async def _trades_of(self, order: dict[str, Any], symbol: str) -> None:
        if not order.get("filled"):
            return
        try:
            trades = await self._ex.fetch_my_trades(symbol, None, 100,
                                                    {"orderId": order.get("id")})
        except BaseError as err:
            self._metrics.exchange_errors.labels(error_label(err)).inc()
            return
        for t in trades:
            await self._on_trade(t)

    async def _on_order(self, o: dict[str, Any], client_order_id: str | None) -> None:
        coid = _our_client_id(o, client_order_id, self.owns)
        if coid is None:
            return
        venue_id = str(o.get("id") or "")
        if venue_id:
            self._venue_ids[venue_id] = coid
        now = self._clock.now_ns()
        if coid not in self._acked and venue_id:
            self._acked.add(coid)
            await self._events.put(OrderAccepted(coid, venue_id, now))
        for t in o.get("trades") or []:
            await self._on_trade({**t, "order": t.get("order") or venue_id}, coid)
        status = o.get("status")
        if status in ("canceled", "cancelled", "expired"):
            await self._events.put(OrderCancelled(coid, now))
        elif status == "rejected":
            await self._events.put(OrderRejected(coid, "venue_rejected", str(o.get("info")), now))
        order = self._open.get(coid)
        if status in _DONE and order is not None:
            del self._open[coid]
            # The socket may have missed a fill: read the finished order's trades once.
            await self._trades_of(o, order.symbol)

    async def _on_trade(self, t: dict[str, Any], coid: str | None = None) -> None:
        info = t.get("info") or {}
        coid = coid or (info.get("c") if isinstance(info, dict) else None) or self._venue_ids.get(
            str(t.get("order") or ""))
        if not self.owns(coid) or t.get("id") is None:
            return
        assert coid is not None
        fill = self._fill_from_trade(t, coid)
        if fill is not None:
            await self._events.put(OrderFilled(fill))

    def _fill_from_trade(self, t: dict[str, Any], coid: str) -> Fill | None:
        inst = self._instruments.get(t.get("symbol") or "")
        if inst is None:
            return None
        price, qty = Decimal(str(t["price"])), Decimal(str(t["amount"]))
        fee_quote = fee_base = ZERO
        fee = t.get("fee") or {}
        if fee.get("cost") is not None:
            cost = Decimal(str(fee["cost"]))
            if fee.get("currency") == inst.quote:
                fee_quote = cost
            elif fee.get("currency") == inst.base:
                fee_base, fee_quote = cost, cost * price
            elif cost and fee.get("currency") not in self._fee_warned:
                self._fee_warned.add(str(fee.get("currency")))
                _log.warning("fee.unpriced_currency", currency=fee.get("currency"),
                             note="fee not in base or quote: not booked in PnL")
        # Our order says which side we traded; a venue's trade record may not (or may name
        # the taker's side), so it is only the fallback for orders we no longer track.
        side = self._sides.get(coid) or (Side.BUY if t.get("side") == "buy" else Side.SELL)
        ts = int(t.get("timestamp") or 0) * MS or self._clock.now_ns()
        return Fill(coid, str(t["id"]), inst.symbol, side, qty, price, fee_quote, ts,
                    fee_base=fee_base)



def _our_client_id(o: dict[str, Any], known: str | None, owns: Any) -> str | None:
    """The order's client id. A cancel's reply (and its execution report) carries the cancel
    request's own id in `clientOrderId` and the order's in `origClientOrderId` / `C`."""
    raw = o.get("info")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for candidate in (known, o.get("clientOrderId"), info.get("origClientOrderId"),
                      info.get("C"), info.get("c")):
        if candidate and owns(candidate):
            return str(candidate)
    return None
