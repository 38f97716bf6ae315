"""Bars from recorded trades, built by the daemon's own `BarAggregator`: the report's bars, and
the training set's, are the ones the strategy saw live (one code path, not a second resampler)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.features import BarAggregator
from daemon.model import Bar


@dataclass(frozen=True)
class Bars:
    end_ns: list[int]
    close: list[float]


def build(ts_ns: Any, price: Any, size: Any, interval_s: int) -> list[Bar]:
    """Every bar of `interval_s` the trades make, the last one closed at its interval's end."""
    agg = BarAggregator("data", interval_s * 1_000_000_000)
    ts, px, sz = list(map(int, ts_ns)), list(map(float, price)), list(map(float, size))
    out: list[Bar] = []
    pos, n = 0, len(ts)
    while pos < n:
        bars, pos = agg.on_columns(ts, px, sz, pos)
        out.extend(bars or ())
    if n:
        out.extend(agg.on_time((ts[-1] // agg.interval_ns + 1) * agg.interval_ns) or ())
    return out


def closes(bars: list[Bar]) -> Bars:
    return Bars([b.end_ns for b in bars], [b.close for b in bars])
