"""The market data price-jump filter: an isolated bad print is dropped, a genuine move is
accepted promptly (it can never lock the feed out), and a reconnect or gap forgets the anchor.
The filter is tested on its own, then the ccxt feed against the fake Binance's websockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from daemon.clock import LiveClock
from daemon.config import ExchangeConfig
from daemon.ops.metrics import Metrics
from daemon.venues.ccxt.client import make_exchange
from daemon.venues.ccxt.feed import CONFIRM_TRADES, CcxtFeed, TradeFilter
from tests.fake_exchange import FakeBinance
from tests.support.ccxt_venue import capture_logs, log_records
from tests.support.wait import eventually_async

SYM = "BTC/USDT"


class Tape:
    """Trades with consecutive ids, through one filter (500 bps bound)."""

    def __init__(self) -> None:
        self.metrics = Metrics([SYM])
        self.filter = TradeFilter(SYM, max_jump_bps=500, metrics=self.metrics)
        self.next_id = 1

    def feed(self, *prices: float, mid: float | None = None) -> list[float]:
        trades = []
        for price in prices:
            trades.append({"id": str(self.next_id), "price": price, "amount": 0.1,
                           "timestamp": 1_000 + self.next_id})
            self.next_id += 1
        ticks, _ = self.filter.accept(trades, mid)
        return [t.price for t in ticks]

    def dropped(self) -> float:
        return self.metrics.md_dropped.labels("price_jump")._value.get()  # type: ignore[no-any-return]


def test_a_genuine_move_is_accepted_after_consecutive_agreeing_trades() -> None:
    tape = Tape()
    assert tape.feed(100.0, 100.1) == [100.0, 100.1]
    assert CONFIRM_TRADES == 3
    assert tape.feed(110.0) == [] and tape.feed(110.2) == []  # held, not dropped
    assert tape.feed(110.1) == [110.0, 110.2, 110.1]  # the third agrees: all of them, in order
    assert tape.feed(110.3, 111.0) == [110.3, 111.0]
    assert tape.dropped() == 0


def test_an_isolated_bad_print_is_dropped() -> None:
    tape = Tape()
    assert tape.feed(100.0, 150.0, 100.2) == [100.0, 100.2]
    assert tape.feed(80.0, 150.0, 100.1) == [100.1]  # two bad prints that disagree
    assert tape.dropped() == 3


def test_a_bad_first_print_does_not_lock_the_feed_out() -> None:
    tape = Tape()
    assert tape.feed(1000.0) == [1000.0]  # nothing to judge it by
    assert tape.feed(100.0, 100.1, 100.2, 100.3) == [100.0, 100.1, 100.2, 100.3]


def test_a_fresh_best_bid_ask_confirms_a_move_and_vets_a_first_print() -> None:
    tape = Tape()
    assert tape.feed(100.0) == [100.0]
    assert tape.feed(110.0, mid=110.05) == [110.0]  # the book moved too: at once
    fresh = Tape()
    assert fresh.feed(1000.0, mid=100.0) == []  # far from the book: held, not the anchor
    assert fresh.feed(100.1, mid=100.0) == [100.1]
    assert fresh.dropped() == 1


def test_a_gap_or_a_reconnect_forgets_the_anchor() -> None:
    tape = Tape()
    assert tape.feed(100.0) == [100.0]
    tape.filter.reanchor("reconnect")
    assert tape.feed(120.0) == [120.0]
    tape.next_id += 5  # trades we never saw: the price may have moved meanwhile
    assert tape.feed(140.0) == [140.0]



@contextlib.asynccontextmanager
async def streaming(fx: FakeBinance) -> AsyncIterator[list[float]]:
    """A real CcxtFeed on the fake exchange, running; yields the prices it has passed on so
    far (the list grows as trades arrive)."""
    urls, options = fx.ccxt_config()["urls"]["api"], fx.ccxt_config()["options"]
    cfg = ExchangeConfig(api_urls=urls, options=options)
    feed = CcxtFeed(make_exchange(cfg, None), [SYM], cfg, Metrics([SYM]), LiveClock())
    prices: list[float] = []

    async def collect() -> None:
        async for batch in feed.stream():
            prices.extend(batch.price)

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(feed.run()), tg.create_task(collect())]
            yield prices
            for task in tasks:
                task.cancel()
    finally:
        await feed.close()

@pytest.mark.asyncio
async def test_feed_follows_a_genuine_jump_on_the_exchange() -> None:
    """Steps: the feed streams the fake's trades (the market trades every 50 ms); the market
    jumps 10% (twice the bound) and keeps trading there; ticks at the new level reach the
    strategy side within seconds."""
    async with FakeBinance(seed=5, tick_interval=0.05) as fx, streaming(fx) as prices:
        await eventually_async(lambda: prices, 10, what="ticks before the jump")
        before = prices[-1]
        mid = fx.markets["BTCUSDT"].book.mid()
        assert mid is not None
        fx.set_mid("BTCUSDT", (mid * Decimal("1.1")).quantize(Decimal("0.01")))
        await eventually_async(lambda: any(p > before * 1.07 for p in prices), 10,
                               what="ticks after the jump")


@pytest.mark.asyncio
async def test_a_dropped_trade_socket_forgets_the_anchor(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Steps: the feed streams the fake's trades; the exchange drops every websocket (as on
    maintenance); ccxt's trade watch fails, the feed re-watches it, and the jump filter's
    anchor is forgotten on the way (the price may have moved while the socket was down)."""
    capture_logs()
    async with FakeBinance(seed=6, tick_interval=0.05) as fx, streaming(fx) as prices:
        await eventually_async(lambda: prices, 10, what="ticks before the drop")
        assert await fx.drop_websockets() > 0
        await eventually_async(
            lambda: [r for r in log_records(capsys)
                     if r.get("event") == "market_data.anchor_reset"
                     and r.get("why") == "reconnect"], 10, what="the anchor reset")
        count = len(prices)
        await eventually_async(lambda: len(prices) > count, 10,
                               what="ticks after the reconnect")
