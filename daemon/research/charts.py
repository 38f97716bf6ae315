"""The report's pictures: one self-contained plotly HTML page and a matplotlib PNG.

plotly's JavaScript is inlined into the page, so it opens with no network (a few MB, once).
Imported only when a report is written: neither library is part of the daemon.
"""

from __future__ import annotations

import html as html_escape
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from daemon.research.trades import RoundTrip

if TYPE_CHECKING:
    from daemon.research.report import Backtest


def _times(ns: Sequence[int]) -> list[datetime]:
    return [datetime.fromtimestamp(t / 1e9, UTC) for t in ns]


def html(path: Path, bt: Backtest, figs: dict[str, Any], equity: Sequence[Decimal],
         trips: Sequence[RoundTrip]) -> None:
    t = _times(bt.bar_end_ns)
    eq = np.array([float(e) for e in equity])
    hold = np.array(bt.bar_close) / bt.bar_close[0] * float(bt.starting_cash)
    peak = np.maximum.accumulate(eq)
    fig = make_subplots(
        rows=5, cols=1, vertical_spacing=0.05,
        row_heights=[0.28, 0.14, 0.24, 0.18, 0.16],
        subplot_titles=("Equity vs buy-and-hold", "Drawdown", "Price, entries and exits",
                        "Monthly returns", "Bar returns"))
    fig.add_trace(go.Scatter(x=t, y=eq, name="strategy"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=hold, name="buy and hold"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=(eq - peak) / peak, name="drawdown", fill="tozeroy"),
                  row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=bt.bar_close, name="close"), row=3, col=1)
    for label, times, prices, symbol in _markers(trips):
        fig.add_trace(go.Scatter(x=times, y=prices, mode="markers", name=label,
                                 marker={"symbol": symbol, "size": 7}), row=3, col=1)
    months, years, grid = _monthly(t, eq)
    fig.add_trace(go.Heatmap(x=months, y=[str(y) for y in years], z=grid, colorscale="RdYlGn",
                             zmid=0, name="monthly",
                             colorbar={"len": 0.16, "y": 0.27, "title": "month"}),
                  row=4, col=1)
    fig.add_trace(go.Histogram(x=np.diff(eq) / eq[:-1], name="returns", nbinsx=60),
                  row=5, col=1)
    fig.update_layout(height=1600, title="tradingd backtest", showlegend=True)
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    table = "".join(f"<tr><td>{html_escape.escape(k)}</td><td>{_fmt(v)}</td></tr>"
                    for k, v in figs.items())
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>tradingd "
                    f"backtest</title></head><body><h1>tradingd backtest</h1>"
                    f"<table id='metrics'>{table}</table>{body}</body></html>")


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return html_escape.escape(json.dumps(value))
    return f"{value:.6g}" if isinstance(value, float) else html_escape.escape(str(value))


def _markers(trips: Sequence[RoundTrip]) -> list[tuple[str, list[datetime], list[float],
                                                        str]]:
    entries = _times([t.entry_ns for t in trips])
    exits = _times([t.exit_ns for t in trips])
    return [("entry", entries, [float(t.entry_price) for t in trips], "triangle-up"),
            ("exit", exits, [float(t.exit_price) for t in trips], "x")]


def _monthly(t: Sequence[datetime], eq: Any) -> tuple[list[str], list[int], list[list[Any]]]:
    last: dict[tuple[int, int], float] = {}
    for ti, e in zip(t, eq, strict=True):
        last[(ti.year, ti.month)] = float(e)
    by_year: dict[int, dict[int, float]] = defaultdict(dict)
    previous = float(eq[0]) if len(eq) else 0.0
    for (year, month), e in sorted(last.items()):
        by_year[year][month] = e / previous - 1.0
        previous = e
    years = sorted(by_year)
    grid = [[by_year[y].get(m) for m in range(1, 13)] for y in years]
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return names, years, grid


def png(path: Path, bt: Backtest, equity: Sequence[Decimal]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    t: Any = np.array(bt.bar_end_ns, dtype="datetime64[ns]")  # UTC, as the data's stamps
    ax.plot(t, [float(e) for e in equity], label="strategy")
    ax.plot(t, np.array(bt.bar_close) / bt.bar_close[0] * float(bt.starting_cash),
            label="buy and hold", alpha=0.7)
    ax.set_ylabel("equity")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
