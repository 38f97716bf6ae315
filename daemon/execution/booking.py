"""Booking: a broker event into the journal, then into the books, as one step.

The journal is written first: the books only ever hold what the journal holds, so a restart
that replays the journal rebuilds them exactly. A fill the journal already has is a duplicate
and is not booked again. The fills task books every event the broker reports through here, and
the reconciler every one it learns from the venue. If the journal cannot take an event, the
daemon is halted by the journal's watch (`journal.watch`) and the event is booked all the same:
what the venue did is what a flatten must size its closes from (the inventory still books each
trade id once).
"""

from __future__ import annotations

import asyncio

from daemon.book.inventory import InventoryManager
from daemon.events import (
    BrokerEvent,
    FundingPaid,
    MarkPriced,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from daemon.journal.base import OrderJournal
from daemon.journal.schema import JournalError
from daemon.model import OrderState
from daemon.ops import log
from daemon.ops.metrics import Metrics

_log = log.get("fills")


async def book(event: BrokerEvent, inventory: InventoryManager, metrics: Metrics,
               journal: OrderJournal) -> bool:
    """Journal an event, then apply it to the books (the fills task and the reconciler), as one
    step: a stop that cancels the caller mid-write still books what the journal took. True if
    the event was new to the books (not a duplicate fill). A mark price is not history: it
    goes to the books only."""
    if isinstance(event, MarkPriced):
        apply(event, inventory, metrics)
        return False
    booked: list[bool] = []

    def apply_fresh(fresh: bool) -> None:
        if fresh:
            booked.append(apply(event, inventory, metrics))
        elif isinstance(event, OrderFilled):
            _log.debug("fill.duplicate", trade_id=event.fill.trade_id,
                       client_order_id=event.fill.client_order_id)
    try:
        await journal.record_then(event, apply_fresh)
    except JournalError as err:
        _log.error("journal.event_not_recorded", event_type=type(event).__name__,
                   error=str(err), action="booked anyway; halted by the journal watch")
        booked.append(apply(event, inventory, metrics))
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None  # a stop that came during the write
    return bool(booked) and booked[0]


def apply(event: BrokerEvent, inventory: InventoryManager, metrics: Metrics) -> bool:
    """Book one event; False for a fill the books already hold."""
    match event:
        case OrderFilled(fill=fill):
            if not inventory.apply_fill(fill):
                _log.debug("fill.duplicate", trade_id=fill.trade_id,
                          client_order_id=fill.client_order_id)
                return False
            metrics.fills.inc()
            if fill.fee_quote >= 0:
                metrics.fees.inc(float(fill.fee_quote))
            else:  # a maker rebate: prometheus counters refuse negative increments
                metrics.fee_rebates.inc(float(-fill.fee_quote))
            if _log.info_enabled:
                _log.info("order.filled", client_order_id=fill.client_order_id,
                          trade_id=fill.trade_id, symbol=fill.symbol, side=fill.side.value,
                          qty=fill.qty, price=fill.price, fee=fill.fee_quote,
                          position=inventory.position(fill.symbol))
            if not inventory.is_working(fill.client_order_id):
                metrics.order_outcomes["filled"].inc()
        case OrderAccepted(client_order_id=coid, venue_order_id=venue_id):
            inventory.order_accepted(coid, venue_id)
        case OrderCancelled(client_order_id=coid):
            if inventory.order_done(coid, OrderState.CANCELLED) is not None:
                metrics.order_outcomes["cancelled"].inc()
                _log.info("order.cancelled", client_order_id=coid)
        case FundingPaid(symbol=symbol, funding_id=fid, amount=amount):
            if not inventory.apply_funding(symbol, fid, amount):
                return False
            if amount >= 0:
                metrics.funding_received.inc(float(amount))
            else:
                metrics.funding_paid.inc(float(-amount))
            _log.info("funding.booked", symbol=symbol, funding_id=fid, amount=amount,
                      funding_total=inventory.funding, position=inventory.position(symbol))
        case MarkPriced(symbol=symbol, price=price, liquidation_price=liq, margin=margin):
            inventory.venue_mark(symbol, price, liq)
            metrics.mark_price.labels(symbol).set(float(price))
            if liq is not None:
                metrics.liquidation_price.labels(symbol).set(float(liq))
            if margin is not None:
                metrics.margin_used.labels(symbol).set(float(margin))
        case OrderRejected(client_order_id=coid, reason=reason, message=message):
            if inventory.order_done(coid, OrderState.REJECTED) is not None:
                metrics.order_outcomes["rejected"].inc()
                metrics.exchange_rejections.labels(reason).inc()
                _log.warning("order.rejected", client_order_id=coid, reason=reason,
                             message=message)
    return True
