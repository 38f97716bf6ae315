"""The daily summary's equity chart as a PNG, when matplotlib (the `research` extra) is there.

Imported lazily, in a worker thread, once a day: the daemon's run path never imports a
research library otherwise, and a missing one only means a summary without a picture.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any


def equity_png(samples: list[tuple[int, float]]) -> bytes | None:
    """`samples`: (ts_ns, equity). None without matplotlib, or with fewer than two samples."""
    if len(samples) < 2:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(8, 3.5), dpi=100)
    ax = fig.subplots()
    times: Any = [datetime.fromtimestamp(ts / 1e9, UTC) for ts, _ in samples]  # dates as x
    ax.plot(times, [equity for _, equity in samples], linewidth=1.2)
    ax.set_title("equity (UTC)")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
