"""A fill the streams missed and the reconciler books over REST reaches the strategy's
`on_fill`, once, like a streamed one, against the local Binance through unmodified ccxt: the
strategy's resting bid half fills on the venue, the trade report is lost, the cancel's report
arrives (the strategy is shown the end); the reconciler's periodic pass finds the trade on the
venue, books it, and hands it to the signal engine, which shows it to the strategy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from daemon.book.strategy_view import OwnedOrders, StrategyView
from daemon.clock import LiveClock
from daemon.config import ReconcileConfig
from daemon.events import OrderCancelled
from daemon.execution.booking import book
from daemon.execution.decisions import SignalEngine
from daemon.execution.reconcile import Reconciler
from daemon.journal.store import Journal
from daemon.model import Action, Fill, Order, OrderType, Side
from daemon.ops.health import HealthState
from strategies.base import OrderEvent, SingleInstrumentStrategy, StrategyContext
from tests.support.ccxt_venue import SYM, venue
from tests.support.wait import eventually_async


class RecorderParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    bar_interval_s: int = 60


class Recorder(SingleInstrumentStrategy[RecorderParams]):
    """Records the order events and fills it is shown."""

    Params = RecorderParams

    def __init__(self, params: RecorderParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.shown: list[tuple[str, str]] = []
        self.fills: list[Fill] = []

    def on_fill(self, fill: Fill, view: StrategyView) -> Sequence[Action]:
        self.fills.append(fill)
        self.shown.append(("fill", fill.trade_id))
        return ()

    def on_order(self, event: OrderEvent, view: StrategyView) -> Sequence[Action]:
        self.shown.append((type(event).__name__, view.tag_of(event.client_order_id) or ""))
        return ()


@pytest.mark.asyncio
async def test_a_fill_booked_by_the_reconciler_reaches_on_fill_once(tmp_path: Path) -> None:
    async with venue() as v:
        journal = await Journal.open(tmp_path / "journal.sqlite3")
        try:
            strategy = Recorder(RecorderParams(SYM), StrategyContext({}, tmp_path))
            owned = OwnedOrders(v.inventory)
            engine = SignalEngine(strategy, StrategyView(v.inventory, owned), LiveClock(), owned)
            mid = v.fx.markets["BTCUSDT"].book.mid()
            assert mid is not None
            approved = v.approve(Side.BUY, "0.01", limit=str((mid * Decimal("0.98"))
                                                             .quantize(Decimal("0.01"))))
            coid = approved.client_order_id
            # As the router does: journaled and in the books before the request, owned.
            order = Order(coid, SYM, Side.BUY, approved.qty, OrderType.LIMIT,
                          approved.limit_price, False, time.time_ns(), tag="bid")
            await journal.record_intent(order)
            v.inventory.open_order(order)
            owned.add(coid, "bid")
            await v.broker.submit(approved)
            await v.settled()
            for event in v.events:  # the acknowledgement, as the fills task books it
                if await book(event, v.inventory, v.metrics, journal):
                    engine.on_event(event)
            # Half fills on the venue; that trade's report never arrives. The cancel's does.
            v.fx.fill_order("BTCUSDT", client_order_id=coid, qty="0.005")
            v.fx.cancel_order("BTCUSDT", client_order_id=coid)
            cancelled = OrderCancelled(coid, time.time_ns())
            assert await book(cancelled, v.inventory, v.metrics, journal)
            engine.on_event(cancelled)
            assert engine.drain() is None
            assert [s[0] for s in strategy.shown] == ["OrderAccepted", "OrderCancelled"]
            assert coid not in owned and not strategy.fills

            reconciler = Reconciler(journal, v.broker, v.inventory, v.gate, v.metrics,
                                    HealthState(), ReconcileConfig(interval_s=0.05), "td-t",
                                    halt=lambda detail: pytest.fail(detail),
                                    on_restored=lambda store: None)
            reconciler.on_booked = engine.on_event
            passes = asyncio.create_task(reconciler.run())
            try:
                def shown_fill() -> bool:
                    engine.drain()
                    return bool(strategy.fills)
                await eventually_async(shown_fill, 10, what="the REST-booked fill shown")
                venue_id = next(o["orderId"] for o in v.fx.orders() if o["clientOrderId"] == coid)
                venue_trades = [t for t in v.fx.trades() if t["orderId"] == venue_id]
                assert [f.trade_id for f in strategy.fills] == [str(t["id"]) for t in
                                                                 venue_trades]
                fill = strategy.fills[0]
                assert fill.qty == Decimal("0.005")
                assert v.inventory.position(SYM) == fill.qty - fill.fee_base
                await eventually_async(lambda: settled(journal), 10, what="the order settled")
                engine.drain()
                assert len(strategy.fills) == 1  # later passes book nothing twice
            finally:
                passes.cancel()
                await asyncio.gather(passes, return_exceptions=True)
        finally:
            await journal.close()


async def settled(journal: Journal) -> bool:
    return not await journal.unsettled()
