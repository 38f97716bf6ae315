"""Fill handling task: broker events -> the inventory manager's books."""

from __future__ import annotations

import asyncio

from daemon import log
from daemon.broker.base import Broker
from daemon.events import BrokerEvent, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.inventory import InventoryManager
from daemon.metrics import Metrics
from daemon.model import OrderState

_log = log.get("fills")


async def run(broker: Broker, inventory: InventoryManager, metrics: Metrics) -> None:
    log.bind_task("fills")
    # The broker's venue streams (user-data websocket, REST polls) live with this task.
    async with asyncio.TaskGroup() as tg:
        tg.create_task(broker.run(), name="broker_io")
        while True:
            apply(await broker.events.get(), inventory, metrics)


def apply(event: BrokerEvent, inventory: InventoryManager, metrics: Metrics) -> None:
    match event:
        case OrderFilled(fill=fill):
            if not inventory.apply_fill(fill):
                _log.debug("fill.duplicate", trade_id=fill.trade_id,
                          client_order_id=fill.client_order_id)
                return
            metrics.fills.inc()
            metrics.fees.inc(float(fill.fee_quote))
            _log.info("order.filled", client_order_id=fill.client_order_id,
                      trade_id=fill.trade_id, symbol=fill.symbol, side=fill.side.value,
                      qty=fill.qty, price=fill.price, fee=fill.fee_quote,
                      position=inventory.position(fill.symbol))
            if not any(o.client_order_id == fill.client_order_id
                       for o in inventory.working_orders(fill.symbol)):
                metrics.order_outcomes["filled"].inc()
        case OrderAccepted(client_order_id=coid, venue_order_id=venue_id):
            inventory.order_accepted(coid, venue_id)
        case OrderCancelled(client_order_id=coid):
            if inventory.order_done(coid, OrderState.CANCELLED) is not None:
                metrics.order_outcomes["cancelled"].inc()
                _log.info("order.cancelled", client_order_id=coid)
        case OrderRejected(client_order_id=coid, reason=reason, message=message):
            if inventory.order_done(coid, OrderState.REJECTED) is not None:
                metrics.order_outcomes["rejected"].inc()
                metrics.exchange_rejections.labels(reason).inc()
                _log.warning("order.rejected", client_order_id=coid, reason=reason,
                             message=message)
