"""Recorded market data files for `tradingd replay`, read into the columns a `ReplaySource` slices.

Two CSV layouts, told apart by their header (either may be gzipped: a name ending `.gz`); the
Parquet datasets of `tradingd data` are read by `daemon.research.loading`:
- trades, data.binance.vision style: `id,price,qty,quote_qty,time,...` with `time` in ms (any
  header naming `price`, `qty` or `size`, and `time` or `timestamp` works; `ts_ns` is read as
  nanoseconds). Rows are put in time order (stable, so a venue's order within a millisecond
  stays).
- candles: `open_time_ms,open,high,low,close,volume`. A candle becomes four trades inside its
  interval — open, the first extreme, the second extreme, close, a quarter interval apart, each
  with a quarter of the volume — low first on an up candle, high first on a down one, so bars of
  the candle's length (or a multiple) rebuild the candles exactly.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MS = 1_000_000


class DataFileError(Exception):
    """The file cannot be replayed; the message says which line or column and why."""


@dataclass(frozen=True)
class Recorded:
    kind: str  # "trades" | "candles"
    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    rows: int  # lines of data read (trades, or candles)

    @property
    def ticks(self) -> int:
        return len(self.ts_ns)


def load(path: Path) -> Recorded:
    try:
        opened = (gzip.open(path, "rt", newline="", encoding="utf-8") if path.suffix == ".gz"
                  else path.open(newline="", encoding="utf-8"))
        with opened as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            rows = [r for r in reader if r]
    except (OSError, EOFError) as err:  # gzip: BadGzipFile is an OSError, truncation EOFError
        reason = getattr(err, "strerror", None) or str(err)
        raise DataFileError(f"{path}: cannot read: {reason}") from None
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not a text file: {err.reason}") from None
    if "open_time_ms" in header:
        rec = _candles(path, header, rows)
    else:
        rec = _trades(path, header, rows)
    if not rec.ticks:
        raise DataFileError(f"{path}: no data rows")
    if not (rec.price > 0).all() or not np.isfinite(rec.price).all():
        raise DataFileError(f"{path}: prices must be positive numbers")
    if (rec.size < 0).any():
        raise DataFileError(f"{path}: sizes must not be negative")
    return rec


def _column(path: Path, header: list[str], *names: str) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise DataFileError(f"{path}: header has no {' or '.join(repr(n) for n in names)} column "
                        f"(trades need price, qty and time; candles open_time_ms,open,...)")


def _floats(path: Path, rows: list[list[str]], col: int) -> npt.NDArray[np.float64]:
    try:
        return np.array([float(r[col]) for r in rows], dtype=np.float64)
    except (ValueError, IndexError) as err:
        raise DataFileError(f"{path}: column {col + 1}: {err}") from None


def _trades(path: Path, header: list[str], rows: list[list[str]]) -> Recorded:
    price = _floats(path, rows, _column(path, header, "price"))
    size = _floats(path, rows, _column(path, header, "qty", "size", "amount"))
    if "ts_ns" in header:
        ts = _floats(path, rows, header.index("ts_ns")).astype(np.int64)
    else:
        ms = _floats(path, rows, _column(path, header, "time", "timestamp"))
        ts = ms.astype(np.int64) * MS
    order = np.argsort(ts, kind="stable")
    return Recorded("trades", ts[order], price[order], size[order], len(rows))


def _candles(path: Path, header: list[str], rows: list[list[str]]) -> Recorded:
    cols = [_column(path, header, name) for name in
            ("open_time_ms", "open", "high", "low", "close", "volume")]
    return candles(path, *(_floats(path, rows, col) for col in cols))


def candles(path: Path, t_ms: npt.NDArray[np.float64], o: npt.NDArray[np.float64],
            h: npt.NDArray[np.float64], lo: npt.NDArray[np.float64],
            c: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> Recorded:
    """Candles' columns as the four trades each is replayed as."""
    if len(t_ms) < 2:
        raise DataFileError(f"{path}: need at least two candles to know their interval")
    order = np.argsort(t_ms, kind="stable")
    t_ms, o, h, lo, c, v = (a[order] for a in (t_ms, o, h, lo, c, v))
    steps = np.diff(t_ms)
    interval_ns = int(steps[steps > 0].min()) * MS
    up = c >= o
    start = t_ms.astype(np.int64) * MS
    quarter = interval_ns // 4
    ts = np.stack([start + k * quarter for k in range(4)], axis=1).ravel()
    price = np.stack([o, np.where(up, lo, h), np.where(up, h, lo), c], axis=1).ravel()
    size = np.repeat(v / 4, 4)
    return Recorded("candles", ts, price, size, len(t_ms))

