"""Replay parts on their own: the replay clock, the source's batches and pacing, data files, the
paper touch inside a batch, and the progress bar."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from daemon.clock import LiveClock, ReplayClock, stepper
from daemon.commands.replay import Progress
from daemon.features import LogReturnLags
from daemon.model import TickBatch
from daemon.venues import replay_files
from daemon.venues.paper import PaperBroker
from daemon.venues.replay import ReplaySource
from tests.support.instruments import instrument

S = 1_000_000_000
BTC = instrument(min_notional="0")


def test_sleepers_wake_in_deadline_order_when_time_passes_them() -> None:
    async def scenario() -> list[str]:
        clock = ReplayClock(10 * S)
        woke: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(f"{name}@{clock.now_ns() // S}")

        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 5), ("a", 2), ("c", 9))]
        await asyncio.sleep(0)
        clock.advance(13 * S, wake=False)  # inside a batch: time moves, nobody wakes
        await asyncio.sleep(0)
        assert woke == []
        clock.advance(15 * S)
        await asyncio.sleep(0)
        assert woke == ["a@15", "b@15"]
        clock.advance(14 * S)  # never backwards
        assert clock.now_ns() == 15 * S
        clock.advance(19 * S)
        await asyncio.gather(*tasks)
        await clock.sleep(0)  # a past deadline still yields once, and returns
        return woke

    assert asyncio.run(scenario()) == ["a@15", "b@15", "c@19"]
    assert stepper(ReplayClock()) is not None and stepper(LiveClock()) is None


def test_source_slices_chunks_into_batches_and_waits_until_each_was_processed() -> None:
    async def scenario() -> list[list[int]]:
        clock = ReplayClock()
        chunks = [(np.arange(5) * S, np.full(5, 100.0), np.ones(5)), ([5 * S], [101.0], [2.0])]
        done: list[int] = []
        source = ReplaySource("BTC/USDT", chunks, clock, batch_ticks=2, on_batch=done.append)
        assert clock.now_ns() == 0  # starts at the first trade
        seen: list[list[int]] = []
        stream = source.stream()
        while True:
            reader = asyncio.ensure_future(anext(stream, None))
            await asyncio.sleep(0)
            if seen:  # the next batch waits until the daemon reached the last one's receipt
                assert not reader.done()
                clock.advance(seen[-1][-1] + 1)
            batch = await reader
            if batch is None:
                break
            assert batch.recv_ns == batch.ts_ns[-1] + 1 and batch.bid == batch.ask
            seen.append(list(batch.ts_ns))
        assert done == [2, 4, 5, 6]
        assert [b async for b in source.stream()] == []  # a second stream (the flatten's) ends
        return seen

    assert asyncio.run(scenario()) == [[0, S], [2 * S, 3 * S], [4 * S], [5 * S]]


def test_candles_become_four_trades_that_rebuild_them(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("open_time_ms,open,high,low,close,volume\n"
                    "0,10,12,9,11,4\n3600000,11,11.5,8,9,8\n")
    rec = replay_files.load(path)
    q = 900 * S
    assert (rec.kind, rec.rows, rec.ticks) == ("candles", 2, 8)
    assert rec.ts_ns.tolist() == [0, q, 2 * q, 3 * q, 4 * q, 5 * q, 6 * q, 7 * q]
    # Up candle: open, low, high, close; down candle: open, high, low, close.
    assert rec.price.tolist() == [10, 9, 12, 11, 11, 11.5, 8, 9]
    assert rec.size.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]


def test_trades_are_put_in_time_order_keeping_the_venue_order_within_a_millisecond(
        tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n"
                    "3,101,1,101,2000,True,True\n1,100,2,200,1000,False,True\n"
                    "2,99,3,297,1000,True,True\n")
    rec = replay_files.load(path)
    assert rec.ts_ns.tolist() == [10**9, 10**9, 2 * 10**9]
    assert rec.price.tolist() == [100, 99, 101]


@pytest.mark.parametrize(("text", "error"), [
    ("a,b\n1,2\n", "no 'price' column"),
    ("price,qty,time\n", "no data rows"),
    ("price,qty,time\n-1,1,1\n", "positive"),
    ("price,qty,time\nx,1,1\n", "column 1"),
    ("open_time_ms,open,high,low,close,volume\n0,1,1,1,1,1\n", "two candles"),
])
def test_bad_data_files_say_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(replay_files.DataFileError, match=error):
        replay_files.load(path)


def test_paper_touch_inside_a_batch_is_the_trade_the_walk_reached() -> None:
    async def scenario() -> list[tuple[D, D] | None]:
        clock = ReplayClock()
        broker = PaperBroker({"BTC/USDT": BTC}, D(0), D(0), clock)
        await broker.on_market(TickBatch("BTC/USDT", [1, 2], [50.0, 51.0], [1, 1], 51, 51, 3))
        broker.at_tick("BTC/USDT", 1)
        await broker.on_market(TickBatch("BTC/USDT", [5, 7, 7, 9], [100.0, 101.0, 102.0, 103.0],
                                         [1, 1, 1, 1], 102.5, 103.5, 10))
        out = [broker._touch_at("BTC/USDT")]
        for index in range(4):
            broker.at_tick("BTC/USDT", index)
            out.append(broker._touch_at("BTC/USDT"))
        return out

    touches = asyncio.run(scenario())
    assert touches == [
        (D(51), D(51)),  # before the walk reaches the batch: the last batch's quote
        (D("99.5"), D("100.5")),  # at a trade: the batch's spread around it
        (D("100.5"), D("101.5")),
        (D("101.5"), D("102.5")),  # the second trade stamped 7: its own price, not the first's
        (D("102.5"), D("103.5")),  # the last trade: the batch's own quote
    ]


def test_log_return_lags_push_matches_on_tick() -> None:
    a, b = LogReturnLags(2), LogReturnLags(2)
    out = [0.0, 0.0]
    for p in (100.0, 101.0, 99.0, 102.0):
        lags = a.on_tick(p)
        assert b.push(p) == (lags is not None)
        if lags is not None:
            assert b.copy_into(out) and out == lags


def test_progress_prints_a_line_per_tenth_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(1000, out)
    for done in range(0, 1001, 50):
        progress.update(done)
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()  # a pipe gets whole lines, not a redrawn bar
    assert len(lines) == 10 and lines[-1].startswith("replay: 100%")
    assert "1.00k/1.00k" in lines[-1]
