"""`tradingd data import`: the CSV layouts `tradingd replay` reads (data.binance.vision trades
and klines, plain or gzipped) into the Parquet datasets `data fetch` writes."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa

from daemon.research import datasets


def import_csv(src: Path, root: Path, exchange: str, symbol: str) -> tuple[Path, int,
                                                                          list[datasets.Gap]]:
    """Write `src` as the dataset for `exchange`/`symbol`; return its path, rows and gaps."""
    opened = gzip.open(src, "rt", newline="") if src.suffix == ".gz" else src.open(newline="")
    with opened as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        rows = [r for r in reader if r]
    if "open_time_ms" in header:
        cols = [header.index(c) for c in datasets.CANDLES.names]
        table = datasets.candles_table([[float(r[c]) for c in cols] for r in rows])
        steps = np.diff(table.column("open_time_ms").to_numpy())
        tf_ms = int(steps[steps > 0].min()) if (steps > 0).any() else 0
        name = next((k for k, v in datasets.TIMEFRAME_MS.items() if v == tf_ms), None)
        if name is None:
            raise datasets.DatasetError(f"{src}: candles {tf_ms} ms apart: not a timeframe")
        path = datasets.path_for(root, exchange, symbol, name)
        return path, table.num_rows, datasets.write(path, table, tf_ms)
    idx = {c: header.index(c) for c in ("id", "price", "qty", "time")}
    table = pa.table([pa.array([int(r[idx["id"]]) for r in rows], pa.int64()),
                      pa.array([int(float(r[idx["time"]])) for r in rows], pa.int64()),
                      pa.array([float(r[idx["price"]]) for r in rows], pa.float64()),
                      pa.array([float(r[idx["qty"]]) for r in rows], pa.float64())],
                     schema=datasets.TRADES)
    path = datasets.path_for(root, exchange, symbol, None)
    return path, table.num_rows, datasets.write(path, table, None)
