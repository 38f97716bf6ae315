"""Order books as strategies see them: the venue's top levels, or nothing if they are unusable."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from daemon.clock import ReplayClock
from daemon.config import InstrumentConfig, SimConfig
from daemon.model import TickBatch
from daemon.venues.ccxt.feed import book_snapshot
from daemon.venues.sim import SimMarket

GOOD = {"bids": [[100.0, 1.0], [99.5, 2.0], [99.0, 3.0]],
        "asks": [[100.5, 1.5], [101.0, 0.5], [102.0, 4.0]]}


def test_the_top_levels_are_kept_best_first() -> None:
    snap = book_snapshot(GOOD, 2, 7)
    assert snap is not None and snap.ts_ns == 7
    assert snap.bids == [(100.0, 1.0), (99.5, 2.0)]
    assert snap.asks == [(100.5, 1.5), (101.0, 0.5)]


@pytest.mark.parametrize("book", [
    {"bids": [[101.0, 1.0]], "asks": [[100.5, 1.0]]},  # crossed
    {"bids": [[100.0, 1.0], [100.5, 1.0]], "asks": [[101.0, 1.0]]},  # bids rising
    {"bids": [[100.0, 1.0]], "asks": [[101.0, 1.0], [101.0, 2.0]]},  # asks not rising
    {"bids": [[100.0, 0.0]], "asks": [[101.0, 1.0]]},  # empty level
    {"bids": [[float("nan"), 1.0]], "asks": [[101.0, 1.0]]},
    {"bids": [["x", 1.0]], "asks": [[101.0, 1.0]]},
    {"bids": [[100.0]], "asks": [[101.0, 1.0]]},
])
def test_an_unusable_book_is_none(book: dict[str, list[list[object]]]) -> None:
    assert book_snapshot(book, 5, 0) is None


def test_the_sim_gives_a_book_only_to_a_strategy_that_asks_for_one() -> None:
    inst = InstrumentConfig("BTC/USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                            Decimal(100), Decimal(5), Decimal(60000))

    async def first(depth: int) -> TickBatch:
        market = SimMarket([inst], SimConfig(), 100, ReplayClock(), book_depth=depth)
        async for batch in market.stream():
            return batch
        raise AssertionError("no batch")

    assert asyncio.run(first(0)).book is None
    batch = asyncio.run(first(3))
    book = batch.book
    assert book is not None and len(book.bids) == len(book.asks) == 3
    assert book.bids[0][0] == batch.bid and book.asks[0][0] == batch.ask
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
