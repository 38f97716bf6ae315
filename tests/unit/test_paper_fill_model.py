"""The market fill model by hand-computed cases: latency moves the fill to a later trade,
slippage follows the power law, a large market order fills across trades at the participation
cap, a resting limit waits for the queue ahead and fills on a trade through it, maker and taker
pay their own fees, post-only never takes, IOC/FOK behave as on a venue, a cancel arrives late,
and the end of the data fills what is left at the last trade. The broker runs on a wall clock the
test sets (no `advance`: every trade of a batch is worked as it comes, as live)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from decimal import ROUND_CEILING, ROUND_FLOOR
from decimal import Decimal as D

import pytest
import pytest_asyncio

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.config_paper import PaperConfig
from daemon.events import BrokerEvent, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.model import BookSnapshot, OrderIntent, OrderType, Side, TickBatch, TimeInForce
from daemon.risk.gate import ApprovedOrder, RiskGate
from daemon.venues.paper_market import MarketPaperBroker
from tests.support.broker_events import drain
from tests.support.instruments import instrument

SYMBOL = "BTC/USDT"
BTC = instrument(SYMBOL, tick="0.01", lot="0.001", max_qty="1000", min_notional="0.5")
T0 = 1_000 * 10**9
MS = 10**6
CFG = PaperConfig(latency_ms=100, max_participation=D("0.1"), impact_bps=D(10),
                  max_slippage_bps=D(100), volume_window_s=60, queue_ahead_s=10,
                  maker_fee_bps=D(-1), taker_fee_bps=D(5))


class WallClock:
    """A live clock the test sets (it has no `advance`, so the broker works as live)."""

    def __init__(self) -> None:
        self.now = T0

    def now_ns(self) -> int:
        return self.now

    def monotonic_ns(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def trades(*rows: tuple[int, float, float], spread: float = 0.0,
           book: BookSnapshot | None = None) -> TickBatch:
    """A batch of (ts_ns, price, size) trades, its quote `spread` wide around the last."""
    last = rows[-1][1]
    return TickBatch(SYMBOL, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     last - spread / 2, last + spread / 2, rows[-1][0] + 1, book=book)


def taker_price(touch: float, side: Side, qty: str, window_volume: float) -> D:
    """What a taker piece pays, computed here from the documented formula."""
    bps = min(100.0, 10.0 * math.sqrt(float(qty) / window_volume))
    move = D(f"{bps:.6f}") / 10_000
    factor = 1 + move if side is Side.BUY else 1 - move
    rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
    return (D(repr(touch)) * factor / D("0.01")).to_integral_value(rounding) * D("0.01")


@pytest_asyncio.fixture
async def env() -> AsyncIterator[tuple[MarketPaperBroker, WallClock]]:
    clock = WallClock()
    paper = MarketPaperBroker({SYMBOL: BTC}, CFG, clock)
    # The past minute: 30 trades of 0.2 at 100 (a volume of 6), the last 5 s before T0.
    await paper.on_market(trades(*[(T0 - (35 - k) * 10**9, 100.0, 0.2) for k in range(30)]))
    worker = asyncio.create_task(paper.run())
    yield paper, clock
    worker.cancel()


def order(side: Side, qty: str, limit: str | None = None,
          tif: TimeInForce = TimeInForce.GTC, coid: str = "o-1") -> ApprovedOrder:
    inventory = InventoryManager([BTC], D(1_000_000))
    inventory.mark(SYMBOL, 100.0, T0)
    inventory.quote(SYMBOL, 100.0, 100.0)
    intent = OrderIntent(SYMBOL, side, D(qty), OrderType.MARKET if limit is None else
                         OrderType.LIMIT, None if limit is None else D(limit),
                         time_in_force=tif)
    approved = RiskGate(RiskConfig(D(10**7), D(10**7), 100), inventory.view, T0).check(
        intent, coid, T0)
    assert isinstance(approved, ApprovedOrder), approved
    return approved


async def send(paper: MarketPaperBroker, o: ApprovedOrder) -> None:
    await paper.submit(o)
    await paper.settled()



def fills(events: list[BrokerEvent]) -> list[tuple[D, D, D, int]]:
    return [(e.fill.qty, e.fill.price, e.fill.fee_quote, e.fill.ts_ns) for e in events
            if isinstance(e, OrderFilled)]


@pytest.mark.asyncio
async def test_latency_fills_at_the_first_trade_after_arrival(env) -> None:
    paper, _ = env
    await send(paper, order(Side.BUY, "0.01"))
    assert drain(paper) == []  # sent, not yet at the venue
    await paper.on_market(trades((T0 + 50 * MS, 100.0, 5.0), (T0 + 150 * MS, 101.0, 5.0)))
    events = drain(paper)
    assert isinstance(events[0], OrderAccepted) and events[0].ts_ns == T0 + 150 * MS
    price = taker_price(101.0, Side.BUY, "0.01", 6.0 + 5.0)  # the 50 ms trade is in the window
    assert fills(events) == [(D("0.01"), price, D("0.01") * price * 5 / 10_000, T0 + 150 * MS)]


@pytest.mark.asyncio
async def test_a_large_market_order_fills_across_trades_at_the_participation_cap(env) -> None:
    paper, _ = env
    await send(paper, order(Side.SELL, "1"))
    await paper.on_market(trades((T0 + 100 * MS, 99.0, 2.0), (T0 + 200 * MS, 98.0, 3.0),
                                 (T0 + 300 * MS, 97.0, 10.0), (T0 + 400 * MS, 96.0, 10.0)))
    got = fills(drain(paper))
    # 10% of the volume traded since arrival, cumulatively: 0.2, then 0.5 - 0.2, then the rest.
    assert [g[0] for g in got] == [D("0.2"), D("0.3"), D("0.5")]
    assert [g[1] for g in got] == [taker_price(p, Side.SELL, "1", 6.0) for p in (99, 98, 97)]
    assert paper.stats.taker_fills == 3 and paper.stats.filled_qty == D(1)


@pytest.mark.asyncio
async def test_sparse_data_measures_the_volume_since_the_trade_before() -> None:
    """Candles: no trade in the minute before arrival. V is then the volume since the trade
    before, scaled to the window; with no trade seen at all the order pays the cap."""
    clock = WallClock()
    paper = MarketPaperBroker({SYMBOL: BTC}, CFG, clock)
    worker = asyncio.create_task(paper.run())
    try:
        await paper.on_market(trades((T0 + 50 * MS, 100.0, 1.0)))
        await send(paper, order(Side.BUY, "0.01", coid="first"))
        await paper.on_market(trades((T0 + 120 * 10**9, 100.0, 1.0)))
        scaled = 1.0 * 60 / (120.0 - 0.05)  # the 50 ms trade, over the 119.95 s since it
        assert fills(drain(paper))[0][1] == taker_price(100.0, Side.BUY, "0.01", scaled)
    finally:
        worker.cancel()
    paper = MarketPaperBroker({SYMBOL: BTC}, CFG, WallClock())
    worker = asyncio.create_task(paper.run())
    try:
        await paper.on_market(trades((T0 - 10**9, 100.0, 0.0)))  # a quote, no volume
        await send(paper, order(Side.BUY, "0.01"))
        await paper.on_market(trades((T0 + 100 * MS, 100.0, 1.0)))
        assert fills(drain(paper))[0][1] == D("101.00")  # 100 bps, nothing traded before
    finally:
        worker.cancel()


@pytest.mark.asyncio
async def test_a_resting_limit_waits_for_the_queue_then_fills_on_a_trade_through(env) -> None:
    paper, _ = env
    await send(paper, order(Side.BUY, "0.5", limit="99.00"))
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 1.0)))  # arrives, rests
    assert isinstance(drain(paper)[0], OrderAccepted)
    # Queue ahead: the volume of the 10 s before it joined: four of the 0.2 trades (T0-9..-6 s).
    await paper.on_market(trades((T0 + 1 * 10**9, 99.0, 0.5)))  # at its price: eats the queue
    assert drain(paper) == []
    await paper.on_market(trades((T0 + 2 * 10**9, 99.0, 0.5)))  # 0.3 of queue left, 0.2 to us
    await paper.on_market(trades((T0 + 3 * 10**9, 98.5, 0.1)))  # through it: 0.1 more
    got = fills(drain(paper))
    assert [(q, p) for q, p, _, _ in got] == [(D("0.2"), D("99.00")), (D("0.1"), D("99.00"))]
    # A maker's fee: -1 bps, a rebate.
    assert [f for _, _, f, _ in got] == [D("0.2") * D(99) * -1 / 10_000,
                                         D("0.1") * D(99) * -1 / 10_000]
    assert paper.stats.maker_fills == 2


@pytest.mark.asyncio
async def test_post_only_never_takes(env) -> None:
    paper, _ = env
    await send(paper, order(Side.BUY, "0.1", limit="100.00", tif=TimeInForce.POST_ONLY))
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 5.0)))
    (rejected,) = drain(paper)
    assert isinstance(rejected, OrderRejected) and rejected.reason == "post_only_would_cross"


@pytest.mark.asyncio
async def test_ioc_keeps_what_the_arrival_trade_gave_fok_all_or_nothing(env) -> None:
    paper, _ = env
    await send(paper, order(Side.BUY, "1", limit="101.00", tif=TimeInForce.IOC, coid="ioc"))
    await send(paper, order(Side.BUY, "1", limit="101.00", tif=TimeInForce.FOK, coid="fok"))
    await send(paper, order(Side.BUY, "0.2", limit="101.00", tif=TimeInForce.FOK, coid="fok2"))
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 3.0), (T0 + 200 * MS, 100.0, 30.0)))
    events = drain(paper)
    got = {e.fill.client_order_id: e.fill.qty for e in events if isinstance(e, OrderFilled)}
    assert got == {"ioc": D("0.3"), "fok2": D("0.2")}  # 10% of the arrival trade's 3
    expired = {e.client_order_id for e in events if isinstance(e, OrderCancelled)}
    assert expired == {"ioc", "fok"}


@pytest.mark.asyncio
async def test_a_cancel_arrives_late_and_the_order_can_fill_meanwhile(env) -> None:
    paper, clock = env
    await send(paper, order(Side.SELL, "0.5", limit="101.00"))
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 1.0)))
    clock.now = T0 + 10**9
    await paper.cancel("o-1", SYMBOL)
    await paper.settled()
    await paper.on_market(trades((T0 + 10**9 + 50 * MS, 101.5, 0.2),  # through, before the cancel
                                 (T0 + 10**9 + 150 * MS, 101.5, 0.2)))
    events = drain(paper)[1:]
    assert fills(events) == [(D("0.2"), D("101.00"), D("0.2") * 101 * -1 / 10_000,
                              T0 + 10**9 + 50 * MS)]
    assert isinstance(events[1], OrderCancelled) and events[1].ts_ns == T0 + 10**9 + 150 * MS


@pytest.mark.asyncio
async def test_a_taker_walks_the_book_when_the_data_has_one(env) -> None:
    paper, _ = env
    await send(paper, order(Side.BUY, "0.01"))
    book = BookSnapshot(T0, [(99.9, 1.0)], [(100.0, 0.005), (100.5, 1.0)])
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 5.0), book=book))
    assert fills(drain(paper))[0][1] == D("100.25")  # half at 100.0, half at 100.5


@pytest.mark.asyncio
async def test_the_end_of_the_data_fills_what_is_left_at_the_last_trade(env) -> None:
    paper, clock = env
    await send(paper, order(Side.BUY, "0.5"))
    await paper.on_market(trades((T0 + 100 * MS, 100.0, 1.0)))  # 0.1 filled, 0.4 left
    clock.now = T0 + 100 * MS + 1
    await paper.market_ended()
    got = fills(drain(paper))
    assert [g[0] for g in got] == [D("0.1"), D("0.4")]
    assert got[1][1] == taker_price(100.0, Side.BUY, "0.5", 6.0)  # its arrival's slippage
    assert got[1][3] == T0 + 100 * MS + 1
