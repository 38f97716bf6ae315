"""Recorded data for `replay`, `train` and `backtest`: the Parquet datasets `tradingd data`
writes, or the CSV layouts `daemon.venues.replay_files` reads, as the same columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daemon.venues import replay_files
from daemon.venues.replay_files import MS, DataFileError, Recorded, candles


def load(path: Path) -> Recorded:
    """`DataFileError` names the file and what is wrong with it."""
    if path.suffix != ".parquet":
        return replay_files.load(path)
    from daemon.research import datasets  # pyarrow: only for a Parquet file

    try:
        table = datasets.read_any(path)
    except datasets.DatasetError as err:
        raise DataFileError(str(err)) from None
    cols = {name: table.column(name).to_numpy() for name in table.schema.names}
    if "open_time_ms" in cols:
        return candles(path, *(cols[c].astype(np.float64) for c in
                               ("open_time_ms", "open", "high", "low", "close", "volume")))
    ts = cols["time_ms"].astype(np.int64) * MS
    return Recorded("trades", ts, cols["price"], cols["qty"], len(ts))
