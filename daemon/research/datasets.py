"""Market data on disk: one Parquet dataset per venue, symbol and timeframe, validated on write
and on read.

Candles: `open_time_ms, open, high, low, close, volume`; trades: `id, time_ms, price, qty`.
Validation refuses what would mislead a backtest — time not strictly increasing, duplicate rows,
non-positive prices — and reports gaps (missing candles) with their span, which are real
outages as often as errors and are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CANDLES = pa.schema([("open_time_ms", pa.int64()), ("open", pa.float64()),
                     ("high", pa.float64()), ("low", pa.float64()), ("close", pa.float64()),
                     ("volume", pa.float64())])
TRADES = pa.schema([("id", pa.int64()), ("time_ms", pa.int64()), ("price", pa.float64()),
                    ("qty", pa.float64())])
TIMEFRAME_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000}


class DatasetError(Exception):
    """The data would mislead a backtest; the message says where and why."""


@dataclass(frozen=True)
class Gap:
    after_ms: int  # the last row before the gap
    before_ms: int  # the first row after it
    missing: int  # candles that should be there


def path_for(root: Path, exchange: str, symbol: str, timeframe: str | None) -> Path:
    """`root/binance/BTC_USDT/1h.parquet` (or `trades.parquet`)."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", symbol).strip("_")
    return root / exchange / name / f"{timeframe or 'trades'}.parquet"


def validate(table: pa.Table, timeframe_ms: int | None) -> list[Gap]:
    """Raise `DatasetError` on disorder, duplicates or bad prices; return the gaps."""
    key = "open_time_ms" if timeframe_ms else "time_ms"
    t = table.column(key).to_numpy()
    steps = np.diff(t)
    if timeframe_ms is None:
        ids = table.column("id").to_numpy()
        if len(ids) > 1 and (np.diff(ids) <= 0).any():
            i = int(np.argmax(np.diff(ids) <= 0)) + 1
            raise DatasetError(f"row {i}: trade id {ids[i]} does not increase")
        if (steps < 0).any():
            raise DatasetError(f"row {int(np.argmax(steps < 0)) + 1}: time goes back")
    elif (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        what = "duplicate" if steps[i - 1] == 0 else "out of order"
        raise DatasetError(f"row {i}: {what} candle at {t[i]}")
    prices = [table.column(c).to_numpy() for c in
              (("open", "high", "low", "close") if timeframe_ms else ("price",))]
    for column in prices:
        if len(column) and not (np.isfinite(column) & (column > 0)).all():
            raise DatasetError(f"row {int(np.argmax(~(column > 0)))}: price not positive")
    if not timeframe_ms:
        return []
    return [Gap(int(t[i]), int(t[i + 1]), int(steps[i] // timeframe_ms) - 1)
            for i in np.flatnonzero(steps != timeframe_ms)]


def read(path: Path, timeframe_ms: int | None) -> tuple[pa.Table, list[Gap]]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise DatasetError(f"{path}: cannot read: {err}") from None
    expected = CANDLES if timeframe_ms else TRADES
    if not table.schema.equals(expected):
        raise DatasetError(f"{path}: columns {table.schema.names}, expected {expected.names}")
    return table, validate(table, timeframe_ms)


def read_any(path: Path) -> pa.Table:
    """A candles or trades dataset, whichever the file holds, validated."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid) as err:
        raise DatasetError(f"{path}: cannot read: {err}") from None
    if names != CANDLES.names:
        return read(path, None)[0]
    times = pq.read_table(path, columns=["open_time_ms"]).column(0).to_numpy()
    steps = np.diff(times)
    return read(path, int(steps[steps > 0].min()) if (steps > 0).any() else 1)[0]


def existing(path: Path, timeframe_ms: int | None) -> pa.Table:
    """What a previous fetch left (validated), or an empty dataset."""
    if path.exists():
        return read(path, timeframe_ms)[0]
    return candles_table([]) if timeframe_ms else trades_table([])


def write(path: Path, table: pa.Table, timeframe_ms: int | None) -> list[Gap]:
    """Validate, then replace the file atomically (a crash leaves the old one whole)."""
    gaps = validate(table, timeframe_ms)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return gaps


def candles_table(rows: list[list[float]]) -> pa.Table:
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[]] * 6
    return pa.table([pa.array([int(v) for v in cols[0]], pa.int64())]
                    + [pa.array([float(v) for v in c], pa.float64()) for c in cols[1:6]],
                    schema=CANDLES)


def trades_table(rows: list[dict[str, Any]]) -> pa.Table:
    """ccxt's unified trades (`id`, `timestamp`, `price`, `amount`) as a trades dataset."""
    return pa.table([pa.array([int(t["id"]) for t in rows], pa.int64()),
                     pa.array([int(t["timestamp"]) for t in rows], pa.int64()),
                     pa.array([float(t["price"]) for t in rows], pa.float64()),
                     pa.array([float(t["amount"]) for t in rows], pa.float64())],
                    schema=TRADES)
