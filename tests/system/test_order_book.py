"""A strategy that asks for the order book gets the venue's book, through unmodified ccxt.pro
(REST snapshot plus depth diffs from the local Binance)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.market_driver import MarketDriver
from tests.support.wait import eventually

pytestmark = pytest.mark.system
DEPTH = 5
WATCHER = ("tests.support.strategies:BookWatcher", f'symbol = "BTC/USDT"\ndepth = {DEPTH}')
Levels = tuple[list[list[str]], list[list[str]]]


def venue_top(fx: FakeBinanceThread) -> Levels:
    """The venue's own top levels, written the way the strategy logs them."""
    def read(f: Any) -> Levels:
        book = f.markets["BTCUSDT"].book
        return tuple(  # type: ignore[return-value]
            [[repr(float(p)), repr(float(q))] for p, q in side[:DEPTH]]
            for side in (book.sorted_bids(), book.sorted_asks()))
    return fx.call(read)


def test_a_strategy_that_asks_for_the_book_sees_the_venues_top_levels(tmp_path: Path) -> None:
    """Steps: paper mode on the local exchange's data with a strategy asking for 5 levels; let
    the market move, then hold it still: the last book the strategy is shown is the venue's
    top five levels a side, exactly; move it again, hold it: the strategy sees the new top."""
    with FakeBinanceThread(seed=5) as fx, MarketDriver(fx) as market:
        cfg = exchange_config(tmp_path, fx.ccxt_config(), mode="paper", strategy=WATCHER)
        d = DaemonProcess(cfg, env={})
        try:
            d.wait_for("book.seen", 40)
            seen: list[Levels] = []
            for _ in range(2):
                market.pause()
                want = venue_top(fx)
                assert len(want[0]) == len(want[1]) == DEPTH
                d.wait_for_match(20, lambda r, w=want: r.get("event") == "book.seen"
                                 and (r["bids"], r["asks"]) == w, f"the venue's book {want}")
                seen.append(want)
                market.resume()
                eventually(lambda w=want: venue_top(fx) != w, 10, what="the book to move")
            assert seen[0] != seen[1]
            d.send(signal.SIGTERM)
            assert d.wait_exit(40) == 0
            assert d.find("order.submitted") is None  # it only watched
        finally:
            d.kill()
