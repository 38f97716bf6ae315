"""Routing with its real neighbours (gate, books, SQLite journal, paper broker): an order
approved before a halt is never sent after it.

The intent is committed to the journal between the gate's approval and the request, and that
write is the one await in between. A halt that lands during it must withdraw the order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

import pytest
import pytest_asyncio

from daemon.book.inventory import InventoryManager
from daemon.clock import LiveClock
from daemon.config import RiskConfig
from daemon.events import OrderFilled
from daemon.execution.router import ClientIds, OrderRouter
from daemon.journal.store import Journal
from daemon.model import Fill, OrderIntent, Side, TickBatch, TradingState
from daemon.ops.metrics import Metrics
from daemon.risk.gate import ApprovedOrder, RiskGate
from daemon.venues.paper import PaperBroker
from tests.support.instruments import instrument
from tests.support.journal_lock import WriteLock
from tests.support.wait import eventually

SYMBOL = "BTC/USDT"
BTC = instrument(SYMBOL)


@dataclass
class Desk:
    journal: Journal
    inventory: InventoryManager
    gate: RiskGate
    router: OrderRouter
    broker: PaperBroker
    metrics: Metrics


@pytest_asyncio.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    clock = LiveClock()
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    inventory = InventoryManager([BTC], D(10_000))
    now = clock.now_ns()
    inventory.mark(SYMBOL, 100.0, now)
    inventory.quote(SYMBOL, 99.99, 100.01)
    gate = RiskGate(RiskConfig(D(100_000), D(100_000), 10), inventory.view, now)
    broker = PaperBroker({SYMBOL: BTC}, D("7.5"), D(1), clock)
    await broker.on_market(TickBatch(SYMBOL, [now], [100.0], [1.0], 99.99, 100.01, now + 1))
    metrics = Metrics([SYMBOL])
    router = OrderRouter(gate, inventory, broker, clock, metrics, ClientIds("t"), journal)
    worker = asyncio.create_task(broker.run())  # as the fill task runs it
    yield Desk(journal, inventory, gate, router, broker, metrics)
    worker.cancel()
    await journal.close()


async def route_and_halt_midway(desk: Desk, state: TradingState | None) -> ApprovedOrder:
    task = asyncio.create_task(desk.router.route(OrderIntent(SYMBOL, Side.BUY, D("0.1"))))
    await asyncio.sleep(0)  # one step: the route runs until it awaits the journal's write
    (working,) = desk.inventory.working_orders()  # approved and in the books already
    if state is not None:
        desk.gate.set_state(state)  # as the supervisor does on a halt
    decision = await task
    assert isinstance(decision, ApprovedOrder)
    assert decision.client_order_id == working.client_order_id
    return decision


@pytest.mark.asyncio
async def test_without_a_halt_the_order_goes_out(desk: Desk) -> None:
    await route_and_halt_midway(desk, None)
    await desk.broker.settled()
    assert not desk.broker.events.empty()  # accepted and filled on paper


@pytest.mark.asyncio
@pytest.mark.parametrize("state", [TradingState.HALTED, TradingState.REDUCING])
async def test_a_halt_during_the_journal_write_withdraws_the_order(
        desk: Desk, state: TradingState) -> None:
    order = await route_and_halt_midway(desk, state)
    await desk.broker.settled()
    assert desk.broker.events.empty()  # nothing reached the broker
    assert not desk.inventory.working_orders()
    record = await desk.journal.order(order.client_order_id)
    assert record is not None and record.state == "rejected"
    denied = desk.metrics.registry.get_sample_value(
        "tradingd_risk_denials_total", {"reason": state.value})
    assert denied == 1


@pytest.mark.asyncio
async def test_a_decisions_orders_are_committed_together_and_a_halt_withdraws_both(
        desk: Desk) -> None:
    """A flip's close and open: both checked (the open against the close as working), both
    journaled in one write, and a halt during that write stops both."""
    desk.inventory.apply_fill(Fill("x-0", "t-0", SYMBOL, Side.BUY, D("0.1"), D(100), D(0), 0))
    close = OrderIntent(SYMBOL, Side.SELL, D("0.1"), reduce_only=True, tag="close")
    opening = OrderIntent(SYMBOL, Side.SELL, D("0.1"), tag="open")
    task = asyncio.create_task(desk.router.route_all([close, opening]))
    await asyncio.sleep(0)  # both approved and in the books; the one write is under way
    assert [o.tag for o in desk.inventory.working_orders()] == ["close", "open"]
    desk.gate.set_state(TradingState.HALTED)
    decisions = await task
    assert all(isinstance(d, ApprovedOrder) for d in decisions)
    await desk.broker.settled()
    assert desk.broker.events.empty()
    assert not desk.inventory.working_orders()
    for d in decisions:
        assert isinstance(d, ApprovedOrder)
        record = await desk.journal.order(d.client_order_id)
        assert record is not None and record.state == "rejected"


@pytest.mark.asyncio
async def test_a_decisions_orders_all_go_out_once_committed(desk: Desk) -> None:
    desk.inventory.apply_fill(Fill("x-0", "t-0", SYMBOL, Side.BUY, D("0.1"), D(100), D(0), 0))
    close = OrderIntent(SYMBOL, Side.SELL, D("0.1"), reduce_only=True, tag="close")
    opening = OrderIntent(SYMBOL, Side.SELL, D("0.1"), tag="open")
    decisions = await desk.router.route_all([close, opening])
    await desk.broker.settled()
    filled = []
    while not desk.broker.events.empty():
        event = desk.broker.events.get_nowait()
        if isinstance(event, OrderFilled):
            filled.append(event.fill.client_order_id)
    assert filled == [d.client_order_id for d in decisions if isinstance(d, ApprovedOrder)]
    assert len(filled) == 2


@pytest.mark.asyncio
async def test_a_stop_during_a_withdrawals_write_still_ends_the_order(
        desk: Desk, tmp_path: Path) -> None:
    """A halt withdraws the order; a stop cancels routing while the withdrawal is written.
    The journal says rejected, so the books must not keep it working: the flatten would wait
    on an order the venue never saw, and reconciliation no longer looks at it."""
    with WriteLock(tmp_path / "journal.sqlite3") as lock:
        task = asyncio.create_task(desk.router.route(OrderIntent(SYMBOL, Side.BUY, D("0.1"))))
        await asyncio.sleep(0)  # approved, in the books; the intent's write is under way
        (working,) = desk.inventory.working_orders()
        desk.gate.set_state(TradingState.HALTED)
        coid = working.client_order_id
        # The intent is on disk; the loop has not run since, so the withdrawal is still to
        # come. Lock the journal before it, then let routing go on until it writes.
        eventually(lambda: lock.has_order(coid), what="the intent journaled")
        lock.hold()
        await lock.cancel_mid_write(task, "the withdrawal's write under way")
    record = await desk.journal.order(coid)
    assert record is not None and record.state == "rejected"
    assert not desk.inventory.working_orders()
    await desk.broker.settled()
    assert desk.broker.events.empty()  # and nothing reached the broker
