"""Booking broker events into the books and metrics: what the fills task does with each."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon.book.inventory import InventoryManager
from daemon.events import OrderFilled
from daemon.execution.booking import apply, book
from daemon.journal.store import Journal
from daemon.model import Fill, Order, OrderType, Side
from daemon.ops.metrics import Metrics
from tests.support.instruments import instrument
from tests.support.journal_lock import WriteLock, journal_thread_writing
from tests.support.wait import eventually_async

BTC = instrument()


def fill(fee: str, trade_id: str) -> OrderFilled:
    return OrderFilled(Fill("c1", trade_id, "BTC/USDT", Side.BUY, D("0.1"), D(100), D(fee), 0))


def test_a_maker_rebate_is_booked_and_counted_not_a_crash() -> None:
    """A negative fee (a maker rebate) raised from the fees counter and crashed the daemon:
    it is booked (cash rises by it) and counted as a rebate."""
    inv, metrics = InventoryManager([BTC], D(1000)), Metrics(["BTC/USDT"])
    apply(fill("0.02", "t1"), inv, metrics)
    apply(fill("-0.005", "t2"), inv, metrics)
    assert inv.fees == D("0.015") and inv.cash == D("999.985")
    sample = metrics.registry.get_sample_value
    assert sample("tradingd_fees_total") == 0.02
    assert sample("tradingd_fee_rebates_total") == 0.005
    assert sample("tradingd_fills_total") == 2


@pytest.mark.asyncio
async def test_a_stop_during_the_journal_write_still_books_the_fill(tmp_path: Path) -> None:
    """A stop cancels the fills task. Cancelled while the journal wrote a fill, the books
    never got it, and the journal refused the venue's next report of it as a duplicate: the
    shutdown flatten waited on a filled order until its deadline and exited 1. The write and
    the booking are one step: the cancel lands after both."""
    path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(path)
    inv, metrics = InventoryManager([BTC], D(1000)), Metrics(["BTC/USDT"])
    inv.open_order(Order("c1", "BTC/USDT", Side.BUY, D("0.1"), OrderType.MARKET, None, False, 0))
    with WriteLock(path) as lock:
        lock.hold()
        task = asyncio.create_task(book(fill("0.02", "t1"), inv, metrics, journal))
        await lock.cancel_mid_write(task, "the fill's write under way")
    assert [f.trade_id for f in (await journal.load()).fills] == ["t1"]
    assert inv.position("BTC/USDT") == D("0.1") and not inv.working_orders()
    # The venue reports it again (the REST poll): a duplicate for both, booked once.
    await book(fill("0.02", "t1"), inv, metrics, journal)
    assert inv.position("BTC/USDT") == D("0.1") and inv.fees == D("0.02")
    await journal.close()


@pytest.mark.asyncio
async def test_a_fill_the_journal_cannot_take_is_booked_and_a_stop_meanwhile_still_stops(
        tmp_path: Path) -> None:
    """The journal cannot take a fill (its write lock held elsewhere past SQLite's busy
    timeout: "database is locked") while a stop cancels the fills task. The fill is booked all
    the same — the venue did it, and a flatten sizes its close from the books — and the
    cancel is not swallowed by the failure."""
    path = tmp_path / "journal.sqlite3"
    journal = await Journal.open(path)
    inv, metrics = InventoryManager([BTC], D(1000)), Metrics(["BTC/USDT"])
    inv.open_order(Order("c1", "BTC/USDT", Side.BUY, D("0.1"), OrderType.MARKET, None, False, 0))
    with WriteLock(path) as lock:
        lock.hold()
        task = asyncio.create_task(book(fill("0.02", "t1"), inv, metrics, journal))
        await eventually_async(journal_thread_writing, what="the fill's write under way")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        lock.release()
    assert inv.position("BTC/USDT") == D("0.1") and not inv.working_orders()
    assert (await journal.load()).fills == []
    await journal.close()
