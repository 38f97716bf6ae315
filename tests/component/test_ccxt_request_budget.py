"""Our own request budget in place of ccxt's throttler, and a decision's orders sent side by
side, against the fake Binance through unmodified ccxt.

The budget must cost nothing under the venue's limits and hold them over: an order beyond the
order window is refused unsent, a request beyond the weight window waits. A decision's orders
must not wait for each other's answers: with the first order's answer held back a second, the
second order still reaches the venue at once.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from daemon.clock import LiveClock
from daemon.execution.router import ClientIds, OrderRouter
from daemon.journal.memory import MemoryJournal
from daemon.model import OrderIntent, Side
from daemon.venues.base import BrokerError
from daemon.venues.ccxt.budget import SECOND_NS, RequestBudget
from daemon.venues.ccxt.client import attach_budget
from tests.support.ccxt_venue import SYM, Venue, venue
from tests.support.clock import ManualClock

ORDER = ("POST", "/api/v3/order")


class JumpClock(ManualClock):
    """Sleeping moves time: a wait for the window costs the test nothing."""

    async def sleep(self, seconds: float) -> None:
        self.advance(int(seconds * 1e9))


def posts(v: Venue) -> list[float]:
    return [t for t, m, p in v.fx.request_log if (m, p) == ORDER]


@pytest.mark.asyncio
async def test_orders_beyond_the_venues_order_window_are_refused_unsent() -> None:
    async with venue() as v:
        clock = ManualClock(0)
        budget = RequestBudget(clock, 10_000, [(3, 10 * SECOND_NS)])
        attach_budget(v.broker._ex, budget)  # what wiring does with the venue's limits
        for _ in range(3):
            await v.broker.submit(v.approve())
        for _ in range(2):
            with pytest.raises(BrokerError) as err:
                await v.broker.submit(v.approve())
            assert err.value.reason == "rate_limited"
            assert err.value.retry_after_s == pytest.approx(10.0)
        assert len(posts(v)) == 3  # the two refused never reached the venue
        clock.advance(10 * SECOND_NS)
        await v.broker.submit(v.approve())
        assert len(posts(v)) == 4


@pytest.mark.asyncio
async def test_requests_beyond_the_weight_window_wait_for_it() -> None:
    async with venue() as v:
        clock = JumpClock(0)
        budget = RequestBudget(clock, 5, [])
        ex = v.broker._ex
        ex.enableRateLimit = True  # ccxt prices each request and asks `throttle`: ours
        attach_budget(ex, budget)
        for _ in range(7):
            await ex.fetch_order_book(SYM, 5)  # weight 1 each at this depth (ccxt's cost)
        assert budget.delayed == 1  # the sixth waited a minute; then the window was empty
        assert clock.monotonic_ns() == 60 * SECOND_NS
        assert sum(1 for _, m, p in v.fx.request_log if p == "/api/v3/depth") == 7


@pytest.mark.asyncio
async def test_a_decisions_orders_do_not_wait_for_each_others_answer() -> None:
    async with venue() as v:
        v.fx.faults.delay("/api/v3/order", seconds=1.0, method="POST")  # placed, answered late
        v.approve()  # marks the books at the venue's mid
        router = OrderRouter(v.gate, v.inventory, v.broker, LiveClock(), v.metrics,
                             ClientIds("td"), MemoryJournal(time.time_ns()))
        intents = [OrderIntent(SYM, Side.BUY, Decimal("0.01")),
                   OrderIntent(SYM, Side.BUY, Decimal("0.02"))]
        started = time.monotonic()
        decided = await router.route_all(intents)
        assert [type(d).__name__ for d in decided] == ["ApprovedOrder", "ApprovedOrder"]
        first, second = posts(v)
        assert second - first < 0.5  # not behind the first's one-second answer
        assert time.monotonic() - started < 1.9  # the two waits overlapped
        placed = sorted(Decimal(o["origQty"]) for o in v.fx.orders())
        assert placed == [Decimal("0.01"), Decimal("0.02")]
