"""The exchange broker: approved orders to a venue through ccxt, fills back exactly once.

Every order carries the client id the inventory recorded before the request. Creation is never
retried. When its outcome is ambiguous (timeout, 5xx, network error, or an answer that is not a
report of this order: an HTML page, a body ccxt's parser raises on, see `ccxt_replies`) the
order is looked up by client id until the venue says what became of it (`ccxt_unresolved`):
`submit` looks for `order_lookup_s`, then the order stays working and `run()` keeps asking.

Every exception a venue call raises is classified (`ccxt_support.classify`), not only ccxt's: a
reply that makes ccxt's parser raise is a failed call like any other, never a crash.

A cancel that fails transiently is retried with jittered backoff; "unknown order" means the
order ended first, so it is looked up and booked as the venue says. An order's trades are
always put on the queue before its end (cancelled, expired, rejected): a flatten never sizes a
close from a position that lacks the order's last fills.

Fills come from the user-data websocket (`watch_my_trades`, `watch_orders`) and from a REST poll
that catches what a dropped socket missed; the inventory books each trade id once, so both paths
may report the same fill. Each trade is validated first (`ccxt_fills`). Only orders whose client
id carries our prefix are ours: the operator's own trades on the same account are never booked
or touched.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.events import BrokerEvent, FundingPaid
from daemon.model import Fill, Instrument, MarketKind, OrderType, Side, TimeInForce
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.retry import backoff_s
from daemon.risk.gate import ApprovedOrder
from daemon.venues.base import EVENT_QUEUE_SIZE, BrokerError, UnresolvedOrder, VenueOrder
from daemon.venues.ccxt import replies as ccxt_replies
from daemon.venues.ccxt import swaps as ccxt_swaps
from daemon.venues.ccxt.calls import OUTCOME_UNKNOWN, TRANSIENT, Lookup, VenueCalls
from daemon.venues.ccxt.client import ErrorKind, MalformedReply, classify, error_label
from daemon.venues.ccxt.entry import OrderEntry
from daemon.venues.ccxt.fills import FillParser
from daemon.venues.ccxt.orders import DONE, OrderTracker, our_client_id
from daemon.venues.ccxt.swap_state import SwapState
from daemon.venues.ccxt.unresolved import Unresolved

_log = log.get("ccxt_broker")
_STATUS = {"open": "open", "closed": "filled", "canceled": "cancelled", "cancelled": "cancelled",
           "expired": "cancelled", "rejected": "rejected"}
# A cancel (or the lookup after "unknown order") is tried at most this often, and not again once
# this long has passed since its first try: the flatten re-asks for what is still working.
CANCEL_ATTEMPTS = 5
CANCEL_BUDGET_S = 5.0
# ccxt's unified order params for a time in force (post-only: Binance spot's LIMIT_MAKER).
_TIF_PARAMS: dict[TimeInForce, dict[str, Any]] = {
    TimeInForce.GTC: {}, TimeInForce.IOC: {"timeInForce": "IOC"},
    TimeInForce.FOK: {"timeInForce": "FOK"}, TimeInForce.POST_ONLY: {"postOnly": True}}


def _order_params(order: ApprovedOrder) -> dict[str, Any]:
    params: dict[str, Any] = {"clientOrderId": order.client_order_id}
    if order.order_type is OrderType.LIMIT:
        params.update(_TIF_PARAMS[order.time_in_force])
    return params


class CcxtBroker:
    # `submit` waits for the venue's answer: the router sends a decision's orders side by side.
    concurrent_submit = True

    def __init__(self, exchange: Any, instruments: dict[str, Instrument], cfg: ExchangeConfig,
                 metrics: Metrics, clock: Clock, client_id_prefix: str) -> None:
        self._ex = exchange
        self._instruments = instruments
        self._cfg = cfg
        self._metrics = metrics
        self._clock = clock
        self._venue = VenueCalls(exchange, metrics, clock)
        self._entry = OrderEntry(exchange, cfg, clock)
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._orders = OrderTracker(self._venue, FillParser(instruments, metrics, clock),
                                    self._events, clock, client_id_prefix + "-")
        # Shared with the tracker: the orders followed, and those whose create is unconfirmed.
        self._open = self._orders.open
        self._unconfirmed = self._orders.unconfirmed
        self._unresolved = Unresolved(self._venue, self._orders, clock, cfg, metrics)
        self._creating = self._unresolved.creating
        self._swaps = [s for s, i in instruments.items() if i.kind is MarketKind.MARGIN]
        self._swap_state = SwapState(exchange, self._venue, self._swaps, self._events, cfg,
                                     clock)

    @property
    def events(self) -> asyncio.Queue[BrokerEvent]:
        return self._events

    async def close(self) -> None:
        try:
            await self._ex.close()
        except Exception as err:
            _log.warning("ccxt_broker.close_failed", error=repr(err))

    async def on_market(self, batch: Any) -> None:
        return None

    async def market_ended(self) -> None:
        return None

    def owns(self, client_order_id: str | None) -> bool:
        return self._orders.owns(client_order_id)

    # --- submit, and orders whose create had no clear outcome ---------------------------------

    async def submit(self, order: ApprovedOrder) -> None:
        remaining = self._venue.backoff_remaining_s()
        if remaining > 0:
            raise BrokerError("rate_limited", f"backing off for the venue's rate limit, "
                              f"{remaining:.1f}s left", retry_after_s=remaining)
        budget = getattr(self._ex, "tradingd_budget", None)
        if budget is not None and (wait := budget.admit_order()) > 0:
            raise BrokerError("rate_limited", f"the venue's order limit is used up; the next "
                              f"order fits in {wait:.1f}s", retry_after_s=wait)
        coid = order.client_order_id
        params = _order_params(order)
        if order.reduce_only and self._instruments[order.symbol].kind is MarketKind.MARGIN:
            params["reduceOnly"] = True  # a close can never open the other way on a swap
        self._orders.follow(order)
        sent_ns = self._clock.monotonic_ns()
        self._creating.add(coid)
        try:
            response = ccxt_replies.order_report(await self._entry.create(
                order.symbol, order.order_type.value, order.side.value, float(order.qty),
                float(order.limit_price) if order.limit_price is not None else None,
                params), coid, order.symbol)
        except Exception as err:  # whatever the reply did to ccxt: classified, never a crash
            self._creating.discard(coid)
            await self._create_failed(order, err)
            return
        except asyncio.CancelledError:
            # Cut off mid-request (a stop while a halt's flatten was sending): the venue may
            # or may not have it. The lookup window decides, as after a timeout; the books
            # keep it working until then, so the shutdown's flatten waits for its outcome.
            if coid not in self._orders.acked:
                self._unresolved.start_window(coid)
            raise
        finally:
            self._creating.discard(coid)
        self._metrics.ack_latency.observe((self._clock.monotonic_ns() - sent_ns) / 1e9)
        await self._orders.on_order(response, coid)

    async def _create_failed(self, order: ApprovedOrder, err: BaseException) -> None:
        coid = order.client_order_id
        if classify(err) in OUTCOME_UNKNOWN:
            self._venue.failed(err)  # counted (a breaker counts unreadable replies too)
            await self._unresolved.create_failed(coid, order.symbol, err)
            return
        self._open.pop(coid, None)
        kind = self._venue.failed(err)  # raises FatalBrokerError on refused credentials
        if kind is ErrorKind.RATE_LIMIT:
            raise BrokerError("rate_limited", str(err),
                              retry_after_s=self._venue.backoff_remaining_s())
        raise BrokerError(kind.value, str(err))

    # --- cancel -------------------------------------------------------------------------------

    async def settled(self) -> None:
        return None  # `submit` and `cancel` return only once the venue answered

    async def cancel(self, client_order_id: str, symbol: str, *, urgent: bool = True) -> None:
        """Cancel an order; its end (and any last fills) arrive as events. Transient failures
        are retried with jittered backoff, `CANCEL_ATTEMPTS` times at most. `urgent` (every
        current caller: a flatten, or the reconciler removing an unknown order) is sent even
        while backing off from a rate limit; otherwise the backoff is waited out first."""
        coid = client_order_id
        give_up_ns = self._clock.monotonic_ns() + int(CANCEL_BUDGET_S * 1e9)
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            if not urgent:
                await self._venue.wait_backoff()
            try:
                response = ccxt_replies.venue_order(
                    await self._entry.cancel(symbol, {"clientOrderId": coid}))
            except Exception as err:  # an unreadable answer: the cancel is asked again
                kind = self._venue.failed(err)
                if kind is ErrorKind.ORDER_NOT_FOUND:
                    if await self._after_unknown_cancel(coid, symbol, urgent, give_up_ns):
                        return
                    continue  # the venue still has it open: cancel again
                if kind not in TRANSIENT or attempt == CANCEL_ATTEMPTS \
                        or self._clock.monotonic_ns() >= give_up_ns:
                    raise BrokerError(kind.value, f"cancel (attempt {attempt}): {err}") from None
                pause = backoff_s(attempt, 0.25, 2.0, floor_s=0.05)
                _log.warning("order.cancel_retry", client_order_id=coid, attempt=attempt,
                             error=error_label(err), pause_s=round(pause, 3))
                await self._clock.sleep(pause)
                continue
            await self._orders.on_order(response, coid, urgent=urgent)
            return
        raise BrokerError("cancel_failed", f"{coid} still open after {CANCEL_ATTEMPTS} cancels")

    async def _after_unknown_cancel(self, coid: str, symbol: str, urgent: bool,
                                    give_up_ns: int) -> bool:
        """The venue knows no open order by that id: book what became of it. False when the
        order turns out to be open after all (cancel it again)."""
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            if not urgent:
                await self._venue.wait_backoff()
            outcome, found = await self._venue.lookup(coid, symbol)
            if outcome is Lookup.FOUND and found is not None:
                await self._orders.on_order(found, coid, urgent=urgent)
                return found.get("status") in DONE
            if outcome is Lookup.NOT_FOUND:
                if coid not in self._open or coid in self._orders.acked:
                    raise BrokerError("order_not_found", f"the venue knows no order {coid}")
                # Its create has not been confirmed (it failed ambiguously, or is still under
                # way): the lookup window decides whether it exists, in the background; the
                # caller asks again for a cancel if it turns up.
                if coid not in self._unconfirmed:
                    self._unresolved.start_window(coid)
                raise BrokerError("ambiguous", f"{coid} is not on the venue (yet): its create "
                                  "is unconfirmed and looked up in the background")
            if self._clock.monotonic_ns() >= give_up_ns:
                break
            await self._clock.sleep(backoff_s(attempt, 0.25, 2.0, floor_s=0.05))
        raise BrokerError("ambiguous", f"{coid}: the venue did not say what became of it")

    # --- reconciliation queries ---------------------------------------------------------------

    @property
    def lookup_window_s(self) -> float:
        return self._cfg.order_lookup_s

    async def query_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            o = await self._venue.ask("fetch_order", lambda: self._ex.fetch_order(
                "", symbol, {"clientOrderId": client_order_id}), lambda reply: (
                ccxt_replies.order_report(reply, client_order_id, symbol)))
        except BrokerError as err:
            if err.reason == ErrorKind.ORDER_NOT_FOUND.value:
                return None
            raise
        return self._venue_order(o, client_order_id)

    async def query_fills(self, order: VenueOrder) -> list[Fill]:
        trades = await self._venue.ask("fetch_my_trades", lambda: self._ex.fetch_my_trades(
            order.symbol, None, 1000, {"orderId": order.venue_order_id}), ccxt_replies.trade_list)
        fills = (self._orders.fill(t, order.client_order_id, order.side) for t in trades)
        return [f for f in fills if f is not None]

    async def query_open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        out = []
        for symbol in symbols:
            for o in await self._venue.ask("fetch_open_orders", functools.partial(
                    self._ex.fetch_open_orders, symbol), ccxt_replies.order_list):
                order = self._venue_order(o, None)
                if order is not None:
                    out.append(order)
        return out

    async def query_holdings(self, assets: list[str]) -> dict[str, Decimal]:
        balance = await self._venue.ask("fetch_balance", self._ex.fetch_balance,
                                        ccxt_replies.balance)
        return {a: Decimal(str((balance.get(a) or {}).get("total") or 0)) for a in assets}

    async def query_positions(self, symbols: list[str]) -> dict[str, Decimal]:
        """The venue's signed position per swap symbol (`fetch_positions`)."""
        swaps = [s for s in symbols if self._instruments[s].kind is MarketKind.MARGIN]
        if not swaps:
            return {}
        return dict(await self._venue.ask(
            "fetch_positions", lambda: self._ex.fetch_positions(swaps),
            lambda reply: ccxt_swaps.positions(reply, swaps)))

    async def query_funding(self, symbol: str, since_ns: int) -> list[FundingPaid]:
        """The venue's funding settlements of `symbol` from `since_ns` on (REST)."""
        return await self._swap_state.funding(symbol, since_ns)

    def track(self, order: VenueOrder) -> None:
        self._orders.follow(order, acked=True)

    def unresolved_orders(self) -> list[UnresolvedOrder]:
        return self._orders.unresolved()

    def watch_malformed_replies(self, listener: Callable[[], None]) -> None:
        self._venue.on_malformed.append(listener)

    def _venue_order(self, o: dict[str, Any], known: str | None) -> VenueOrder | None:
        coid = our_client_id(o, known, self.owns)
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

    # --- venue events -------------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch("orders"), name="ws_orders")
            tg.create_task(self._watch("trades"), name="ws_my_trades")
            tg.create_task(self._poll(), name="rest_fills")
            if self._swaps:
                tg.create_task(self._swap_state.run(), name="swap_state")

    async def _watch(self, what: str) -> None:
        attempt = 0
        while True:
            try:
                items = await (self._ex.watch_orders() if what == "orders"
                               else self._ex.watch_my_trades())
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise MalformedReply(f"{what}: not a list of records")
            except Exception as err:  # ccxt's, or its parser's on a message it could not read
                self._venue.failed(err)  # refused credentials stop the daemon
                attempt += 1
                self._metrics.ws_reconnects.inc()
                pause = backoff_s(attempt, 0.5, self._cfg.reconnect_max_s, floor_s=0.1)
                _log.warning("user_stream.reconnect", stream=what, attempt=attempt,
                             pause_s=round(pause, 3), error=error_label(err))
                await self._clock.sleep(pause)
                continue
            attempt = 0
            for item in items:
                if what == "orders":
                    await self._orders.on_order(item, item.get("clientOrderId"))
                else:
                    await self._orders.on_trade(item)

    async def _poll(self) -> None:
        """REST safety net: order states and fills a dropped socket did not deliver, and the
        orders whose create the venue has not confirmed. Waits out a rate-limit backoff."""
        poll_ns = int(self._cfg.fill_poll_s * 1e9)
        next_poll_ns = self._clock.monotonic_ns() + poll_ns
        while True:
            due = [next_poll_ns, *self._unresolved.due_ns()]
            pause_s = (min(due) - self._clock.monotonic_ns()) / 1e9
            if pause_s > 0:
                await self._clock.sleep(pause_s)
                continue
            await self._venue.wait_backoff()
            if self._clock.monotonic_ns() >= next_poll_ns:
                next_poll_ns = self._clock.monotonic_ns() + poll_ns
                await self._poll_open()
            await self._unresolved.poll()
            await asyncio.sleep(0)  # never hold the loop, even if a lookup was skipped

    async def _poll_open(self) -> None:
        for coid, order in list(self._open.items()):
            if coid in self._unconfirmed or self._venue.backoff_remaining_s() > 0:
                continue
            outcome, found = await self._venue.lookup(coid, order.symbol)
            if outcome is Lookup.FOUND and found is not None:
                await self._orders.on_order(found, coid)
            elif outcome is Lookup.NOT_FOUND and coid in self._orders.acked \
                    and coid not in self._unconfirmed:
                # It said it had it (asked again now: an unconfirmed create may have failed
                # while this lookup was under way): a whole window of "not found" decides.
                self._unresolved.doubt(coid)
