"""A strategy's order actions through the real gate, router and ccxt broker against the fake
Binance (unmodified ccxt over HTTP): post-only rests as a maker order and is rejected when it
would cross, replace cancels on the venue before the new order is sent, IOC expires, and a
cancel of an order that is not the strategy's own never reaches the venue."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from daemon.clock import LiveClock
from daemon.events import BrokerEvent, OrderCancelled, OrderRejected
from daemon.execution.actions import StrategyActions
from daemon.execution.router import ClientIds, OrderRouter
from daemon.journal.memory import MemoryJournal
from daemon.model import (
    Cancel,
    CancelAll,
    OrderIntent,
    OrderType,
    Replace,
    Side,
    TimeInForce,
)
from daemon.risk.gate import ApprovedOrder
from tests.support.ccxt_venue import SYM, Venue, venue


def _price(v: Venue, factor: str) -> Decimal:
    mid = v.fx.markets["BTCUSDT"].book.mid()
    assert mid is not None
    return (mid * Decimal(factor)).quantize(Decimal("0.01"))


def _intent(price: Decimal, tag: str, tif: TimeInForce, side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(SYM, side, Decimal("0.001"), OrderType.LIMIT, price, tag=tag,
                       time_in_force=tif)


def _venue_order(v: Venue, coid: str) -> dict[str, object]:
    return next(o for o in v.fx.orders() if o["clientOrderId"] == coid)


@pytest.mark.asyncio
async def test_post_only_replace_cancel_and_ioc_on_the_exchange() -> None:
    """1. a post-only buy 1% under the market rests on the venue as LIMIT_MAKER; 2. a post-only
    buy 1% over it is refused by the venue (`post_only_would_cross`), reported to the strategy,
    and never trades; 3. the resting one is replaced: cancelled on the venue, then the new one
    sent; 4. cancel-all cancels it; 5. an IOC buy far under the market expires; 6. a cancel of
    an id that is not the strategy's sends nothing."""
    async with venue(run=True, book=True) as v:
        clock = LiveClock()
        router = OrderRouter(v.gate, v.inventory, v.broker, clock, v.metrics,
                             ClientIds("td"), MemoryJournal(clock.now_ns()))
        told: list[BrokerEvent] = []
        router.on_rejected = told.append
        actions = StrategyActions(router, v.inventory, clock)
        v.inventory.mark(SYM, float(_price(v, "1")), time.time_ns())

        await actions.run([_intent(_price(v, "0.99"), "maker", TimeInForce.POST_ONLY),
                           _intent(_price(v, "1.01"), "taker", TimeInForce.POST_ONLY)])
        maker, = v.inventory.working_orders()
        assert maker.tag == "maker"
        venue_maker = _venue_order(v, maker.client_order_id)
        assert (venue_maker["type"], venue_maker["status"]) == ("LIMIT_MAKER", "NEW")
        rejected, = told
        assert isinstance(rejected, OrderRejected)
        assert rejected.reason == "post_only_would_cross"
        assert v.fx.trades() == []  # nothing crossed

        await actions.run([Replace(maker.client_order_id,
                                   _intent(_price(v, "0.98"), "maker2", TimeInForce.POST_ONLY))])
        assert _venue_order(v, maker.client_order_id)["status"] == "CANCELED"
        second, = v.inventory.working_orders()
        assert second.tag == "maker2"
        assert _venue_order(v, second.client_order_id)["status"] == "NEW"

        await actions.run([CancelAll(SYM)])
        await v.wait(lambda: not v.inventory.working_orders(), "the cancel booked")
        assert _venue_order(v, second.client_order_id)["status"] == "CANCELED"

        ioc = await router.route_all([_intent(_price(v, "0.97"), "ioc", TimeInForce.IOC)],
                                     owned=True)
        assert isinstance(ioc[0], ApprovedOrder)
        coid = ioc[0].client_order_id
        await v.wait(lambda: any(isinstance(e, OrderCancelled) and e.client_order_id == coid
                                 for e in v.events), "the IOC's end")
        end = next(e for e in v.events if isinstance(e, OrderCancelled)
                   and e.client_order_id == coid)
        assert end.reason == "expired"

        requests = len(v.fx.requests)
        assert not await actions.cancel("td-other-1")
        assert actions.refused_cancels == 1
        assert not [r for r in v.fx.requests[requests:] if r.startswith("DELETE")]
        assert v.fx.trades() == []


@pytest.mark.asyncio
async def test_a_strategy_cannot_cancel_an_order_it_did_not_send() -> None:
    """The daemon's own order (not routed for the strategy) rests on the venue; the strategy's
    Cancel and CancelAll leave it there."""
    async with venue(run=True, book=True) as v:
        clock = LiveClock()
        router = OrderRouter(v.gate, v.inventory, v.broker, clock, v.metrics,
                             ClientIds("td"), MemoryJournal(clock.now_ns()))
        actions = StrategyActions(router, v.inventory, clock)
        v.inventory.mark(SYM, float(_price(v, "1")), time.time_ns())
        daemon_order = await router.route(_intent(_price(v, "0.99"), "flatten",
                                                  TimeInForce.GTC), flatten=True)
        assert isinstance(daemon_order, ApprovedOrder)
        coid = daemon_order.client_order_id
        await actions.run([Cancel(coid), CancelAll(SYM)])
        assert [o.client_order_id for o in v.inventory.working_orders()] == [coid]
        assert _venue_order(v, coid)["status"] == "NEW"
        assert actions.refused_cancels == 1
