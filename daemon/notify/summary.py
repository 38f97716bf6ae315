"""The daily summary: equity, PnL, fees, trades and drawdown over the day, at a UTC time.

Due at `notify.daily_summary_utc` each day by the daemon's clock (the first one the day after
a start past that time: no summary at startup). Measured from what the books say at the
previous summary (or the start); equity is sampled once a minute for the drawdown within the
day and, when matplotlib is installed, the chart (`chart.equity_png`, in a worker thread).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from daemon.book.inventory import InventoryManager
from daemon.notify.chart import equity_png

DAY_NS = 86_400 * 10**9
MINUTE_NS = 60 * 10**9


def next_due_ns(now_ns: int, minute_of_day: int) -> int:
    """The first moment at `minute_of_day` (UTC) strictly after `now_ns`."""
    due = now_ns - now_ns % DAY_NS + minute_of_day * MINUTE_NS
    return due if due > now_ns else due + DAY_NS


class DailySummary:
    def __init__(self, minute_of_day: int | None, inventory: InventoryManager,
                 status: Callable[[], Mapping[str, Any]], now_ns: int) -> None:
        self._minute = minute_of_day
        self._inventory = inventory
        self._status = status
        self._next_ns = None if minute_of_day is None else next_due_ns(now_ns, minute_of_day)
        self._base_equity = inventory.equity()
        self._base_fees = inventory.fees
        self._base_fills = inventory.fill_count
        self.samples: deque[tuple[int, float]] = deque(maxlen=24 * 60 + 1)
        self._last_sample_ns = -MINUTE_NS

    def sample(self, now_ns: int) -> None:
        if now_ns - self._last_sample_ns >= MINUTE_NS:
            self._last_sample_ns = now_ns
            self.samples.append((now_ns, float(self._inventory.equity())))

    def due(self, now_ns: int) -> bool:
        return self._next_ns is not None and now_ns >= self._next_ns

    async def make(self, now_ns: int) -> tuple[dict[str, Any], bytes | None]:
        """The summary's fields and chart; the next day is measured from here."""
        inv = self._inventory
        status = self._status()
        equity: Decimal = inv.equity()
        self.samples.append((now_ns, float(equity)))
        fields = {
            "date": datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y-%m-%d"),
            "equity": str(equity), "pnl": str(equity - self._base_equity),
            "realized_pnl": str(inv.realized_pnl), "unrealized_pnl": str(inv.unrealized_pnl()),
            "fees": str(inv.fees - self._base_fees), "trades": inv.fill_count - self._base_fills,
            "drawdown_ratio": round(float(status.get("drawdown_ratio", 0.0)), 6),
            "max_drawdown_ratio": round(max_drawdown([e for _, e in self.samples]), 6),
            "state": status.get("state"),
        }
        samples = list(self.samples)
        png = await asyncio.to_thread(equity_png, samples)
        self._base_equity, self._base_fees, self._base_fills = equity, inv.fees, inv.fill_count
        self.samples.clear()
        self.samples.append((now_ns, float(equity)))
        if self._minute is not None:
            self._next_ns = next_due_ns(now_ns, self._minute)
        return fields, png


def max_drawdown(equity: list[float]) -> float:
    """The largest fall from a running peak, as a fraction of that peak."""
    peak = worst = 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst
