"""The paper broker on swaps as live (and the sim) drive it, a batch seen whole: initial margin
refuses what the venue would, a short is liquidated at the first trade through its liquidation
price with its resting orders cancelled, and funding settles on the batch that crosses the
settlement time. Expected figures by hand; only the clock is faked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
import pytest_asyncio

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.events import FundingPaid, OrderCancelled, OrderFilled, OrderRejected
from daemon.model import Fill, OrderIntent, OrderType, Side, TickBatch
from daemon.risk.gate import ApprovedOrder, RiskGate
from daemon.venues.paper import PaperBroker
from daemon.venues.paper_margin import FundingSchedule, PaperMargin, SwapTerms
from tests.support.broker_events import drain
from tests.support.instruments import instrument

SYMBOL = "BTC/USDT:USDT"
BTC = instrument(SYMBOL, tick="0.1", max_qty="1000")
HOUR = 3600 * 10**9
T0 = 1_704_067_200 * 10**9  # a settlement time (hourly and 8-hourly)
CASH, MMR = D(1000), D("0.005")


class TradeTimeClock:
    """A live clock (no `advance`: the broker sees each batch whole) that reads the trades'
    (2024) time, as a live clock reads the feed's."""

    now = T0 + 10**9

    def now_ns(self) -> int:
        return self.now

    def monotonic_ns(self) -> int:
        return 0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest_asyncio.fixture
async def broker() -> AsyncIterator[PaperBroker]:
    clock = TradeTimeClock()
    margin = PaperMargin({SYMBOL: SwapTerms(10, True)}, {SYMBOL: BTC}, CASH, MMR,
                         FundingSchedule(3600, D("0.0001")))
    paper = PaperBroker({SYMBOL: BTC}, D(0), D(0), clock, margin)
    await paper.on_market(batch([T0 + 10**9], [100.0]))
    worker = asyncio.create_task(paper.run())
    yield paper
    worker.cancel()


def batch(ts: list[int], prices: list[float]) -> TickBatch:
    return TickBatch(SYMBOL, ts, prices, [1.0] * len(ts), prices[-1], prices[-1], ts[-1])


def approved(side: Side, qty: str, coid: str, limit: str | None = None) -> ApprovedOrder:
    inventory = InventoryManager([BTC], D(1_000_000))
    inventory.mark(SYMBOL, 100.0, T0)
    inventory.quote(SYMBOL, 100.0, 100.0)
    intent = OrderIntent(SYMBOL, side, D(qty), OrderType.LIMIT if limit else OrderType.MARKET,
                         D(limit) if limit else None)
    decision = RiskGate(RiskConfig(D(10**7), D(10**7), 100, max_leverage=D(100)),
                        inventory.view, 10).check(intent, coid, T0)
    assert isinstance(decision, ApprovedOrder), decision
    return decision



@pytest.mark.asyncio
async def test_initial_margin_refuses_more_than_the_wallet_backs_but_never_a_reduce(
        broker: PaperBroker) -> None:
    """1,000 of wallet on 10x backs 10,000 of notional: 100 BTC at 100 fits, 1 more does not
    (fees are 0 here); a sell that only reduces is never refused."""
    await broker.submit(approved(Side.BUY, "100", "a-1"))
    await broker.submit(approved(Side.BUY, "1", "a-2"))
    await broker.submit(approved(Side.SELL, "50", "a-3"))
    await broker.settled()
    events = drain(broker)
    assert [e.fill.client_order_id for e in events if isinstance(e, OrderFilled)] == [
        "a-1", "a-3"]
    [rejected] = [e for e in events if isinstance(e, OrderRejected)]
    assert rejected.client_order_id == "a-2" and rejected.reason == "insufficient_margin"
    assert "initial margin 1010.00" in rejected.message and "1000.00" in rejected.message


@pytest.mark.asyncio
async def test_short_is_liquidated_at_the_first_trade_through_its_liquidation_price(
        broker: PaperBroker) -> None:
    """Short 50 at 100 on 10x isolated: margin 500; liquidation where 500 - 50 (P - 100) =
    0.005 x 50 P, P = 11,000 / 100.5 = 109.4527...; closed at the bankruptcy price 110
    (500 / 50 above the entry): the loss is the margin. A resting buy is cancelled."""
    await broker.submit(approved(Side.SELL, "50", "s-1"))
    await broker.submit(approved(Side.BUY, "1", "s-2", limit="96"))  # rests
    await broker.settled()
    drain(broker)
    liq = (D(50) * 100 + 500) / (D(50) * (1 + MMR))
    assert broker.margin is not None and broker.margin.liquidation_price(SYMBOL) == liq
    await broker.on_market(batch([T0 + 2 * 10**9, T0 + 3 * 10**9, T0 + 4 * 10**9],
                                 [105.0, 109.4, 109.5]))  # 109.4 < liq <= 109.5
    events = drain(broker)
    [close] = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert close.client_order_id.startswith("autoclose-") and close.side is Side.BUY
    assert (close.qty, close.price, close.fee_quote, close.ts_ns) == (
        D(50), D(110), D(0), T0 + 4 * 10**9)
    assert [e.client_order_id for e in events if isinstance(e, OrderCancelled)] == ["s-2"]
    [x] = broker.margin.liquidations
    assert (x.trigger_price, x.fill_price, x.loss) == (D("109.5"), D(110), D(-500))
    assert broker.margin.wallet == CASH - 500
    await broker.on_market(batch([T0 + 5 * 10**9], [200.0]))
    assert not drain(broker)  # flat: nothing more to liquidate


@pytest.mark.asyncio
async def test_funding_settles_on_the_batch_that_crosses_the_hour(broker: PaperBroker) -> None:
    """Long 10 at 100, every position pays 0.01% an hour: the batch whose trades cross 01:00
    settles once at its first trade at or after the hour (102.5): 10 x 102.5 x 0.0001 paid."""
    await broker.submit(approved(Side.BUY, "10", "f-1"))
    await broker.settled()
    drain(broker)
    await broker.on_market(batch([T0 + HOUR - 10**9, T0 + HOUR, T0 + HOUR + 10**9],
                                 [101.0, 102.5, 103.0]))
    await broker.on_market(batch([T0 + HOUR + 2 * 10**9], [104.0]))
    [paid] = drain(broker)
    assert isinstance(paid, FundingPaid)
    assert (paid.amount, paid.ts_ns) == (-D(10) * D("102.5") * D("0.0001"), T0 + HOUR)
    assert paid.funding_id == f"paper-{SYMBOL}-{(T0 + HOUR) // 10**6}"


@pytest.mark.asyncio
async def test_no_funding_for_settlements_while_flat(broker: PaperBroker) -> None:
    """Long 10, closed, flat across three hourly settlements, long again: the new position
    pays from the next settlement on, never for the hours the account held nothing."""
    await broker.submit(approved(Side.BUY, "10", "g-1"))
    await broker.submit(approved(Side.SELL, "10", "g-2"))
    await broker.settled()
    await broker.on_market(batch([T0 + 3 * HOUR + 10**9], [100.0]))  # flat: nothing to settle
    clock = broker._clock
    assert isinstance(clock, TradeTimeClock)
    clock.now = T0 + 3 * HOUR + 2 * 10**9
    await broker.submit(approved(Side.BUY, "10", "g-3"))
    await broker.settled()
    drain(broker)
    await broker.on_market(batch([T0 + 4 * HOUR], [101.0]))
    [paid] = drain(broker)
    assert isinstance(paid, FundingPaid)
    assert (paid.ts_ns, paid.amount) == (T0 + 4 * HOUR, -D(10) * D(101) * D("0.0001"))


def test_cross_margin_is_backed_by_the_wallet_less_the_other_positions_margin() -> None:
    """Cross long 1 at 100 (entry), wallet 1,000 less an isolated ETH position's 200 of margin:
    liquidated where 800 + (P - 100) = 0.005 P, which is below zero: none. With the wallet at
    50 and no other position: P = (100 - 50) / 0.995 = 50.2512..., bankrupt at 50."""
    eth = instrument("ETH/USDT:USDT", tick="0.01", max_qty="1000")
    margin = PaperMargin({SYMBOL: SwapTerms(5, False), eth.symbol: SwapTerms(10, True)},
                         {SYMBOL: BTC, eth.symbol: eth}, CASH, MMR,
                         FundingSchedule(3600, D("0.0001")))
    margin.on_fill(Fill("e-1", "t-1", eth.symbol, Side.BUY, D(20), D(100), D(0), T0))
    margin.on_fill(Fill("b-1", "t-2", SYMBOL, Side.BUY, D(1), D(100), D(0), T0))
    assert margin.liquidation_price(SYMBOL) == 0  # 800 backs a 100 notional whole
    alone = PaperMargin({SYMBOL: SwapTerms(5, False)}, {SYMBOL: BTC}, D(50), MMR,
                        FundingSchedule(3600, D("0.0001")))
    alone.on_fill(Fill("b-1", "t-2", SYMBOL, Side.BUY, D(1), D(100), D(0), T0))
    assert alone.liquidation_price(SYMBOL) == D(50) / D("0.995")
    alone.at_tick(batch([T0 + 10**9], [50.2]), 0)
    [x] = alone.liquidations
    assert (x.fill_price, x.loss, alone.wallet) == (D(50), D(-50), D(0))
