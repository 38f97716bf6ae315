"""The paper broker takes orders and cancels at once and works them in order, in its own task:
`submit` returns before anything is filled, a cancel never overtakes the order it cancels,
and `settled()` returns once every request has been worked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
import pytest_asyncio

from daemon.book.inventory import InventoryManager
from daemon.clock import ReplayClock
from daemon.config import RiskConfig
from daemon.events import OrderAccepted, OrderCancelled, OrderFilled
from daemon.model import OrderIntent, OrderType, Side, TickBatch
from daemon.risk.gate import ApprovedOrder, RiskGate
from daemon.venues.paper import PaperBroker
from tests.support.broker_events import drain
from tests.support.instruments import instrument

SYMBOL = "BTC/USDT"
BTC = instrument(SYMBOL)


@pytest_asyncio.fixture
async def broker() -> AsyncIterator[PaperBroker]:
    clock = ReplayClock(10)
    paper = PaperBroker({SYMBOL: BTC}, D(0), D(0), clock)
    await paper.on_market(TickBatch(SYMBOL, [10], [100.0], [1.0], 99.99, 100.01, 11))
    paper.at_tick(SYMBOL, 0)  # on a replay clock the daemon's walk says how far it has read
    worker = asyncio.create_task(paper.run())
    yield paper
    worker.cancel()


def approved(intent: OrderIntent, coid: str) -> ApprovedOrder:
    inventory = InventoryManager([BTC], D(10_000))
    inventory.mark(SYMBOL, 100.0, 10)
    inventory.quote(SYMBOL, 99.99, 100.01)
    decision = RiskGate(RiskConfig(D(100_000), D(100_000), 10), inventory.view, 10).check(
        intent, coid, 10)
    assert isinstance(decision, ApprovedOrder), decision
    return decision



@pytest.mark.asyncio
async def test_submit_hands_over_and_the_fill_follows(broker: PaperBroker) -> None:
    await broker.submit(approved(OrderIntent(SYMBOL, Side.BUY, D(1)), "a-1"))
    assert broker.events.empty()  # handed over, not yet worked
    await broker.settled()
    accepted, filled = drain(broker)
    assert isinstance(accepted, OrderAccepted) and isinstance(filled, OrderFilled)
    assert (filled.fill.client_order_id, filled.fill.price) == ("a-1", D("100.01"))


@pytest.mark.asyncio
async def test_a_cancel_right_behind_its_order_cancels_it(broker: PaperBroker) -> None:
    resting = approved(OrderIntent(SYMBOL, Side.BUY, D(1), OrderType.LIMIT, D(98)), "a-2")
    await broker.submit(resting)
    await broker.cancel("a-2", SYMBOL)  # before the order itself was worked
    await broker.settled()
    events = drain(broker)
    assert [type(e) for e in events] == [OrderAccepted, OrderCancelled]
    await broker.on_market(TickBatch(SYMBOL, [20], [97.0], [1.0], 96.99, 97.01, 21))
    assert broker.events.empty()  # no longer resting: the market crossing it fills nothing
