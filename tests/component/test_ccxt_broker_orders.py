"""The ccxt broker's order outcomes against the fake Binance: an ambiguous create is resolved
by what the venue says (never by a lookup that failed), cancels survive transient errors, and
an order's fills always come before its end."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from daemon.events import OrderRejected
from daemon.venues.base import BrokerError
from tests.support.ccxt_venue import SYM, Venue, venue

WINDOW_S = 1.0  # order_lookup_s in these tests


def limit_below(v: Venue) -> str:
    """A buy price 2% under the market: it rests until the test fills or cancels it."""
    mid = v.fx.markets["BTCUSDT"].book.mid()
    assert mid is not None
    return str((mid * Decimal("0.98")).quantize(Decimal("0.01")))


def dropped_lookups(v: Venue) -> int:
    return v.fx.faults.fired.count(("GET", "/api/v3/order", "dropped"))


def lost(v: Venue, coid: str) -> list[OrderRejected]:
    return [e for e in v.events if isinstance(e, OrderRejected) and e.client_order_id == coid]


@pytest.mark.asyncio
async def test_partition_through_the_lookup_window_leaves_the_order_working_until_found() -> None:
    """Steps: the create lands on the venue, then the network partitions before its answer;
    every lookup fails through the window. submit returns once the window has passed, with
    no event (the order stays working, nothing resent); the broker keeps looking in the
    background; after the partition heals it finds the order and books its fill."""
    async with venue(run=True, order_lookup_s=float(WINDOW_S)) as v:
        order = v.approve()
        v.fx.faults.partition_after("/api/v3/order", method="POST")
        started = time.monotonic()
        await asyncio.wait_for(v.broker.submit(order), WINDOW_S + 5)
        assert WINDOW_S <= time.monotonic() - started < WINDOW_S + 4  # blocked, but bounded
        coid = order.client_order_id
        await v.settled()
        assert v.of(coid) == []  # neither lost nor anything else: unknown
        seen = dropped_lookups(v)
        await v.wait(lambda: dropped_lookups(v) >= seen + 2, "background lookups")
        assert v.of(coid) == []
        v.fx.faults.heal()
        await v.wait(lambda: v.fills(coid), "the order's fill once the venue answers")
        assert v.of(coid)[0] == "OrderAccepted" and not lost(v, coid)
        assert v.fx.order_post_count(coid) == 1


@pytest.mark.asyncio
async def test_only_the_venues_not_found_after_the_window_ends_an_order_as_lost() -> None:
    """Steps: the create gets a 503 and never lands; the venue says "not found" while the
    window is open, then lookups fail (503) until it has passed: still unknown, not lost. Once
    the venue answers again, its "not found" ends the order as lost_in_transit."""
    async with venue(run=True, order_lookup_s=float(WINDOW_S)) as v:
        order = v.approve()
        coid = order.client_order_id
        v.fx.faults.server_error("/api/v3/order", method="POST", status=503)
        submit = asyncio.create_task(v.broker.submit(order))
        await v.wait(lambda: ("GET", "/api/v3/order") in [(m, p) for _, m, p in
                                                           v.fx.request_log], "a first lookup")
        failing = v.fx.faults.server_error("/api/v3/order", n=10_000, method="GET", status=503)
        await asyncio.wait_for(submit, WINDOW_S + 5)
        await v.settled()
        assert v.of(coid) == []
        failing.remaining = 0
        await v.wait(lambda: lost(v, coid), "lost_in_transit once the venue answers")
        assert [e.reason for e in lost(v, coid)] == ["lost_in_transit"]
        assert v.fx.orders() == [] and v.fx.order_post_count(coid) == 1


@pytest.mark.asyncio
async def test_not_found_is_final_only_after_the_window() -> None:
    """Steps: the create gets a 503; the venue answers every lookup "not found". The order is
    ended as lost_in_transit, and not before the window has passed."""
    async with venue(order_lookup_s=float(WINDOW_S)) as v:
        order = v.approve()
        v.fx.faults.server_error("/api/v3/order", method="POST", status=503)
        started = time.monotonic()
        await v.broker.submit(order)
        assert time.monotonic() - started >= WINDOW_S
        await v.settled()
        assert [e.reason for e in lost(v, order.client_order_id)] == ["lost_in_transit"]


@pytest.mark.asyncio
async def test_cancel_retries_transient_errors_until_the_venue_cancels() -> None:
    async with venue() as v:
        order = v.approve(limit=limit_below(v))
        await v.broker.submit(order)
        coid = order.client_order_id
        v.fx.faults.server_error("/api/v3/order", n=2, method="DELETE", status=503)
        await v.broker.cancel(coid, SYM)
        await v.settled()
        assert v.of(coid) == ["OrderAccepted", "OrderCancelled"]
        assert [o["status"] for o in v.fx.orders()] == ["CANCELED"]
        assert v.fx.requests.count("DELETE /api/v3/order") == 3


@pytest.mark.asyncio
async def test_cancel_that_keeps_failing_gives_up_after_bounded_attempts() -> None:
    async with venue() as v:
        order = v.approve(limit=limit_below(v))
        await v.broker.submit(order)
        v.fx.faults.server_error("/api/v3/order", n=100, method="DELETE", status=503)
        with pytest.raises(BrokerError) as err:
            await asyncio.wait_for(v.broker.cancel(order.client_order_id, SYM), 20)
        assert err.value.reason == "ambiguous"
        assert v.fx.requests.count("DELETE /api/v3/order") == 5


@pytest.mark.asyncio
async def test_cancel_of_an_order_that_filled_first_books_its_fills_not_a_cancel() -> None:
    """Steps: a resting order fills on the venue while the broker is not watching; the cancel
    gets "unknown order" and the first lookup a 503. The broker looks again and books the
    venue's fills; the order did not end cancelled."""
    async with venue() as v:
        order = v.approve(limit=limit_below(v))
        await v.broker.submit(order)
        coid = order.client_order_id
        v.fx.fill_order("BTCUSDT", client_order_id=coid)
        v.fx.faults.server_error("/api/v3/order", method="GET", status=503)
        await v.broker.cancel(coid, SYM)
        await v.settled()
        assert v.of(coid) == ["OrderAccepted", "OrderFilled"]
        assert sum(f.fill.qty for f in v.fills(coid)) == order.qty


@pytest.mark.asyncio
async def test_a_cancelled_order_reports_its_last_fills_before_its_end() -> None:
    """Steps: a resting order partly fills while the broker is not watching, then the broker
    cancels it: the partial fill is on the queue before the cancel, so a flatten reading the
    books after the cancel sees the position it really has."""
    async with venue() as v:
        order = v.approve(limit=limit_below(v))
        await v.broker.submit(order)
        coid = order.client_order_id
        v.fx.fill_order("BTCUSDT", client_order_id=coid, qty="0.004")
        await v.broker.cancel(coid, SYM)
        await v.settled()
        assert v.of(coid) == ["OrderAccepted", "OrderFilled", "OrderCancelled"]
        assert v.fills(coid)[0].fill.qty == Decimal("0.004")


@pytest.mark.asyncio
async def test_a_create_reported_by_the_stream_before_it_timed_out_needs_no_lookup() -> None:
    """Steps: the venue places the order and its report arrives over the user stream, but
    the create's answer is late and times out. The order is already known: no lookup, no
    second report, and the broker goes on serving orders."""
    async with venue(run=True, timeout_ms=500) as v:
        first = v.approve()
        v.fx.faults.delay("/api/v3/order", 2.0, method="POST", process=True)
        await v.broker.submit(first)
        await v.wait(lambda: v.fills(first.client_order_id), "the fill, from the stream")
        second = v.approve()
        await v.broker.submit(second)
        await v.settled()
        for order in (first, second):  # stream and REST may both report a trade: same id
            kinds = v.of(order.client_order_id)
            assert kinds[0] == "OrderAccepted" and set(kinds[1:]) == {"OrderFilled"}
            assert len({f.fill.trade_id for f in v.fills(order.client_order_id)}) == 1
        assert "GET /api/v3/order" not in v.fx.requests


@pytest.mark.asyncio
async def test_cancel_of_an_unconfirmed_order_does_not_wait_out_its_window() -> None:
    """Steps: the create gets a 503 and never lands; while submit is still looking it up, a
    flatten cancels it and the venue knows no such order. The cancel returns at once (an
    error the flatten asks again after) instead of holding the flatten for the window; the
    order then ends lost_in_transit, once."""
    async with venue(order_lookup_s=3.0) as v:
        order = v.approve()
        coid = order.client_order_id
        v.fx.faults.server_error("/api/v3/order", method="POST", status=503)
        submit = asyncio.create_task(v.broker.submit(order))
        await v.wait(lambda: "GET /api/v3/order" in v.fx.requests, "a first lookup")
        started = time.monotonic()
        with pytest.raises(BrokerError) as err:
            await v.broker.cancel(coid, SYM)
        assert err.value.reason == "ambiguous" and time.monotonic() - started < 1
        await asyncio.wait_for(submit, 10)
        await v.settled()
        assert [e.reason for e in lost(v, coid)] == ["lost_in_transit"]
