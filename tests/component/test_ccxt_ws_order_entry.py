"""Websocket order entry (`exchange.order_entry = "websocket"`) against the fake Binance's
ws-api through unmodified ccxt: acks, fills, rejections and cancels go over the socket with the
same client ids as REST; a request the venue takes but never answers is ambiguous, looked up,
never resent; while the socket is down orders go over REST."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.model import Side
from daemon.venues.base import BrokerError
from tests.support.ccxt_venue import Venue, venue

ORDER = ("POST", "/api/v3/order")


def rest_posts(v: Venue) -> int:
    return sum(1 for _, m, p in v.fx.request_log if (m, p) == ORDER)


def rest_cancels(v: Venue) -> int:
    return sum(1 for _, m, p in v.fx.request_log if (m, p) == ("DELETE", "/api/v3/order"))


async def socket_open(v: Venue) -> None:
    await v.wait(lambda: v.broker._entry.path == "websocket"
                 and v.broker._entry._socket_open("BTC/USDT"), "the ws-api socket")


@pytest.mark.asyncio
async def test_ack_fill_reject_and_cancel_go_over_the_socket() -> None:
    async with venue(run=True, order_entry="websocket") as v:
        await socket_open(v)
        market = v.approve()
        await v.broker.submit(market)
        coid = market.client_order_id
        await v.wait(lambda: v.fills(coid), "the market order's fill")
        assert v.of(coid)[0] == "OrderAccepted"
        assert v.fx.order_post_count(coid) == 1
        v.fx.faults.reject_orders(-2010)  # the venue refuses the next order: no balance
        with pytest.raises(BrokerError) as err:
            await v.broker.submit(v.approve())
        assert err.value.reason == "insufficient_funds"
        mid = v.fx.markets["BTCUSDT"].book.mid()
        assert mid is not None
        below = str((mid * Decimal("0.98")).quantize(Decimal("0.01")))  # rests, inside the collar
        resting = v.approve(Side.BUY, "0.01", limit=below)
        await v.broker.submit(resting)
        await v.broker.cancel(resting.client_order_id, "BTC/USDT")
        await v.wait(lambda: "OrderCancelled" in v.of(resting.client_order_id), "the cancel")
        assert rest_posts(v) == 0 and rest_cancels(v) == 0  # all of it over the socket
        assert v.broker._entry.fallbacks == 0


@pytest.mark.asyncio
async def test_an_unanswered_create_is_looked_up_never_resent_and_later_orders_use_rest(
) -> None:
    async with venue(run=True, order_entry="websocket", timeout_ms=500) as v:
        await socket_open(v)
        v.fx.faults.ws_unanswered["order.place"] = 1  # placed, the answer never comes
        order = v.approve()
        await v.broker.submit(order)
        coid = order.client_order_id
        await v.wait(lambda: v.fills(coid), "the fill, once a lookup found the order")
        assert v.fx.order_post_count(coid) == 1  # never sent again, on either wire
        assert ("WS-API", "order.place", "unanswered") in v.fx.faults.fired
        after = v.approve()
        await v.broker.submit(after)
        assert rest_posts(v) == 1 and v.fx.order_post_count(after.client_order_id) == 1
        assert v.broker._entry.fallbacks == 1


@pytest.mark.asyncio
async def test_orders_go_over_rest_while_the_socket_is_down() -> None:
    async with venue(run=True, order_entry="websocket") as v:
        await socket_open(v)
        v.fx.faults.partition()  # every socket severed, nothing gets through ...
        v.fx.faults.heal()  # ... and the network back at once: the sockets stay down a while
        await v.wait(lambda: not v.broker._entry._socket_open("BTC/USDT"), "the socket down")
        order = v.approve()
        await v.broker.submit(order)
        assert rest_posts(v) == 1 and v.fx.order_post_count(order.client_order_id) == 1
        await v.wait(lambda: v.fills(order.client_order_id), "its fill")
