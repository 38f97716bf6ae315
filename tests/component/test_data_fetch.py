"""`data fetch` against the local Binance-wire fake, through unmodified ccxt built from the
config exactly as the daemon builds it: pages across the venue's 1,000-candle limit, a 429
mid-way (backs off for its Retry-After, resumes, no duplicate rows), a real gap reported with
its span, and a second run that appends only what is new."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon import config
from daemon.research import datasets, fetch
from daemon.venues.ccxt.client import make_exchange
from tests.fake_exchange import FakeBinance
from tests.fake_exchange.marketdata import PublicTrade
from tests.support.exchange_config import exchange_config

MINUTE = 60_000
T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC
GAP = range(1500, 1530)  # 30 minutes the venue has no trades for


def tape(fx: FakeBinance, minutes: range) -> None:
    trades = fx.market("BTCUSDT").tape.trades
    trades.clear()
    for m in minutes:
        if m not in GAP:
            for k in range(2):  # two trades a minute: open and close differ
                trades.append(PublicTrade(len(trades) + 1, Decimal(60_000 + m + k),
                                          Decimal("0.1"), T0 + m * MINUTE + k * 1000, False))


@pytest.mark.asyncio
async def test_fetch_pages_backs_off_reports_gaps_and_resumes(tmp_path: Path) -> None:
    async with FakeBinance(seed=7) as fx:
        tape(fx, range(2500))
        cfg = config.load(exchange_config(tmp_path, fx.ccxt_config(), mode="paper"))
        exchange = make_exchange(cfg.exchange, None)
        path = datasets.path_for(tmp_path / "data", "binance", "BTC/USDT", "1m")
        try:
            first = await fetch.candles(exchange, "BTC/USDT", "1m", T0, T0 + 1200 * MINUTE,
                                        path, progress=False)
            assert (first.rows_added, first.gaps) == (1200, [])
            fault = fx.faults.rate_limit("/api/v3/klines", 1, "GET", retry_after=1)
            second = await fetch.candles(exchange, "BTC/USDT", "1m", T0, T0 + 2500 * MINUTE,
                                         path, progress=False)
            assert second.rows_added == 1300 - len(GAP)
            assert second.gaps == [datasets.Gap(T0 + 1499 * MINUTE, T0 + 1530 * MINUTE, 30)]
            assert fault.remaining == 0  # the 429 was answered, waited out, and the page redone
            tape(fx, range(2600))  # the venue moved on
            third = await fetch.candles(exchange, "BTC/USDT", "1m", T0, T0 + 2600 * MINUTE,
                                        path, progress=False)
            assert third.rows_added == 100
        finally:
            await exchange.close()
    table, gaps = datasets.read(path, MINUTE)
    times = table.column("open_time_ms").to_pylist()
    assert times == [T0 + m * MINUTE for m in range(2600) if m not in GAP]
    assert table.column("open").to_pylist()[:2] == [60_000.0, 60_001.0]
    assert table.column("close").to_pylist()[0] == 60_001.0
    assert len(gaps) == 1


def test_a_dataset_with_a_duplicate_candle_is_refused(tmp_path: Path) -> None:
    rows = [[T0, 1, 1, 1, 1, 1], [T0 + MINUTE, 1, 1, 1, 1, 1], [T0 + MINUTE, 1, 1, 1, 1, 1]]
    with pytest.raises(datasets.DatasetError, match="row 2: duplicate candle"):
        datasets.write(tmp_path / "x.parquet", datasets.candles_table(rows), MINUTE)
    assert not (tmp_path / "x.parquet").exists()


def test_imported_csv_replays_exactly_as_the_csv(tmp_path: Path) -> None:
    from daemon.research import imports, loading
    from daemon.venues import replay_files

    root = Path(__file__).resolve().parents[1] / "data" / "replay"
    for name in ("binance_spot_BTCUSDT_1h_1000.csv",
                 "binance_spot_BTCUSDT_trades_2024-08-08T2354Z_3000.csv"):
        path, rows, gaps = imports.import_csv(root / name, tmp_path, "binance", "BTC/USDT")
        csv_data, parquet = replay_files.load(root / name), loading.load(path)
        assert rows == csv_data.rows and parquet.kind == csv_data.kind
        for column in ("ts_ns", "price", "size"):
            assert (getattr(parquet, column) == getattr(csv_data, column)).all(), column
        if csv_data.kind == "candles":
            assert [g.missing for g in gaps] == [1, 33]  # the outages the test data has


@pytest.mark.asyncio
async def test_trades_fetch_pages_by_id_and_resumes_without_repeats(tmp_path: Path) -> None:
    """2,500 trades, several per millisecond: pages of 1,000 by id, none lost or repeated."""
    async with FakeBinance(seed=7) as fx:
        trades = fx.market("BTCUSDT").tape.trades
        trades.clear()
        for i in range(2500):
            trades.append(PublicTrade(1000 + i, Decimal(60_000 + i % 7), Decimal("0.01"),
                                      T0 + i // 3, i % 2 == 0))
        cfg = config.load(exchange_config(tmp_path, fx.ccxt_config(), mode="paper"))
        exchange = make_exchange(cfg.exchange, None)
        path = datasets.path_for(tmp_path / "data", "binance", "BTC/USDT", None)
        try:
            first = await fetch.trades(exchange, "BTC/USDT", T0, T0 + 10_000, path,
                                       progress=False)
            assert first.rows_added == 2500
            for i in range(2500, 2600):
                trades.append(PublicTrade(1000 + i, Decimal(60_000), Decimal("0.01"),
                                          T0 + i // 3, False))
            again = await fetch.trades(exchange, "BTC/USDT", T0, T0 + 10_000, path,
                                       progress=False)
            assert again.rows_added == 100
        finally:
            await exchange.close()
    table = datasets.read(path, None)[0]
    assert table.column("id").to_pylist() == list(range(1000, 3600))
    assert table.column("time_ms").to_pylist()[:4] == [T0, T0, T0, T0 + 1]
