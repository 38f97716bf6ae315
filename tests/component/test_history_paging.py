"""A warm-up that needs more than one page of candles (Binance serves at most 1,000 a request):
`CcxtHistory` pages `fetch_ohlcv` on the local Binance-wire fake, through unmodified ccxt built
as the daemon builds it, spends every page from the request budget (waiting when the budget is
spent, never going over it), and returns exactly the closed bars asked for: none missing and
none twice at a page boundary, none still forming, each the OHLCV of its minute's trades."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from daemon import config
from daemon.model import Bar
from daemon.venues.ccxt.budget import RequestBudget
from daemon.venues.ccxt.client import attach_budget, make_exchange
from daemon.venues.ccxt.history import CcxtHistory
from tests.fake_exchange import FakeBinance
from tests.fake_exchange.marketdata import PublicTrade
from tests.support.exchange_config import exchange_config

MINUTE_MS = 60_000
NS = 1_000_000
T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC
MINUTES = 2_500  # of trades; the minute after them is still forming at the warm-up
WANTED = 2_100  # three pages: 1,000 + 1,000 + 100
OFFSETS = ((0, 0.0), (10_000, 0.75), (20_000, -0.5), (50_000, 0.25))  # (ms, price offset)


class VirtualClock:
    """The budget's clock: its sleeps pass at once, in virtual time, and are recorded."""

    def __init__(self) -> None:
        self.mono_ns = 0
        self.slept_s: list[float] = []

    def now_ns(self) -> int:
        return T0 * NS + self.mono_ns

    def monotonic_ns(self) -> int:
        return self.mono_ns

    async def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.mono_ns += int(seconds * 1e9)


def trades_of(minute: int) -> list[tuple[int, Decimal, Decimal]]:
    base = Decimal(60_000 + (minute * 7919) % 1000)  # each bar differs from its neighbours
    return [(T0 + minute * MINUTE_MS + ms, base + Decimal(str(dp)), Decimal(k + 1) / 100)
            for k, (ms, dp) in enumerate(OFFSETS)]


def tape(fx: FakeBinance) -> None:
    trades = fx.market("BTCUSDT").tape.trades
    trades.clear()
    for m in range(MINUTES + 1):  # minute MINUTES is the one still forming
        for ts, price, qty in trades_of(m):
            trades.append(PublicTrade(len(trades) + 1, price, qty, ts, False))


def expected_bars() -> list[Bar]:
    """Independently: each wanted minute's OHLCV straight from the trades made for it."""
    out = []
    for m in range(MINUTES - WANTED, MINUTES):
        rows = trades_of(m)
        prices = [float(p) for _, p, _ in rows]
        start = (T0 + m * MINUTE_MS) * NS
        out.append(Bar("BTC/USDT", start, start + MINUTE_MS * NS, prices[0], max(prices),
                       min(prices), prices[-1], float(sum(q for _, _, q in rows)), 0))
    return out


async def warm_up_bars(tmp: Path, weight_per_minute: int) -> tuple[list[Bar], int, VirtualClock]:
    async with FakeBinance(seed=3) as fx:
        tape(fx)
        cfg = config.load(exchange_config(tmp, fx.ccxt_config(), mode="paper"))
        exchange = make_exchange(cfg.exchange, None)
        try:
            await exchange.load_markets()
            clock = VirtualClock()
            attach_budget(exchange, RequestBudget(clock, weight_per_minute, []))
            before = len(fx.request_log)
            end_ns = (T0 + MINUTES * MINUTE_MS + 30_000) * NS  # mid-way into the forming minute
            bars = await CcxtHistory(exchange).bars("BTC/USDT", 60, WANTED, end_ns)
            pages = sum(p == "/api/v3/klines" for _, _, p in fx.request_log[before:])
        finally:
            await exchange.close()
    return bars, pages, clock


@pytest.mark.asyncio
async def test_a_warm_up_of_2100_candles_pages_three_times_with_no_gap_or_duplicate(
        tmp_path: Path) -> None:
    bars, pages, clock = await warm_up_bars(tmp_path, weight_per_minute=100)
    assert pages == 3 and clock.slept_s == []  # within the budget: nobody waited
    assert len(bars) == WANTED
    starts = [b.start_ns for b in bars]
    assert starts == sorted(set(starts))  # no duplicate at a page boundary
    assert all(b.start_ns - a.start_ns == MINUTE_MS * NS for a, b in itertools.pairwise(bars))
    assert bars == expected_bars()


@pytest.mark.asyncio
async def test_paging_waits_for_the_budget_instead_of_exceeding_it(tmp_path: Path) -> None:
    """A budget of two requests a minute: the third page waits until the first one's minute
    has passed (virtual time), and the bars are the same."""
    bars, pages, clock = await warm_up_bars(tmp_path, weight_per_minute=2)
    assert pages == 3
    assert len(clock.slept_s) == 1 and 59.9 < clock.slept_s[0] <= 60.0
    assert bars == expected_bars()
