"""The ccxt market data feed when the venue's REST answers cannot be read: the poll fails like
any other (counted, logged), the feed goes on, and no crash takes the daemon down the crash
path. Against the fake Binance, unmodified ccxt."""

from __future__ import annotations

import asyncio

import pytest

from daemon.clock import LiveClock
from daemon.config import ExchangeConfig
from daemon.ops.metrics import Metrics
from daemon.venues.ccxt.client import make_exchange
from daemon.venues.ccxt.feed import CcxtFeed
from tests.fake_exchange import FakeBinance
from tests.support.wait import eventually_async

SYM = "BTC/USDT"
TICKER = "/api/v3/ticker/bookTicker"


@pytest.mark.asyncio
async def test_an_unreadable_rest_answer_is_a_failed_poll_not_a_crash() -> None:
    """Steps: the trade socket goes quiet, so the feed polls REST; the venue answers the
    best-bid/ask poll with `[1, 2]` three times (ccxt's parser raises TypeError on it). Each
    is counted as a MalformedReply; the feed keeps polling and trades keep arriving."""
    async with FakeBinance(seed=8, tick_interval=0.05) as fx:
        fx.faults.muted_streams.add("@trade")
        fx.faults.reply(TICKER, "[1, 2]", n=3, method="GET")
        urls, options = fx.ccxt_config()["urls"]["api"], fx.ccxt_config()["options"]
        cfg = ExchangeConfig(api_urls=urls, options=options, ws_silence_s=0.5,
                             rest_poll_s=0.2)
        metrics = Metrics([SYM])
        feed = CcxtFeed(make_exchange(cfg, None), [SYM], cfg, metrics, LiveClock())
        ticks: list[float] = []

        async def collect() -> None:
            async for batch in feed.stream():
                ticks.extend(batch.price)

        def malformed() -> float:
            return metrics.exchange_errors.labels("MalformedReply")._value.get()  # type: ignore[no-any-return]

        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(feed.run()), tg.create_task(collect())]
                await eventually_async(lambda: malformed() == 3, 15, what="three bad polls")
                count = len(ticks)
                await eventually_async(lambda: len(ticks) > count, 10,
                                       what="trades over REST after them")
                for task in tasks:
                    task.cancel()
        finally:
            await feed.close()
