"""`tradingd backtest`: a replay through the daemon's real path, then the report.

The run is `tradingd replay`'s (same `Daemon`, paper broker, market walk, risk gate); its fills
are taken from the books as they are booked (`InventoryManager.tap_fills`). The report's bars
are rebuilt from the same data by the daemon's own `BarAggregator` at the strategy's interval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon import wiring
from daemon.app import Daemon
from daemon.clock import ReplayClock
from daemon.config import Config
from daemon.model import Fill
from daemon.research import bars, report
from daemon.venues.paper import PaperBroker
from daemon.venues.replay import DEFAULT_BATCH_TICKS, ReplaySource
from daemon.venues.replay_files import Recorded
from strategies.base import Strategy


@dataclass
class Result:
    exit_code: int
    metrics: dict[str, Any]
    daemon: Daemon


def run(cfg: Config, strategy: Strategy[Any], data: Recorded, symbol: str, out: Path,
        batch_ticks: int = DEFAULT_BATCH_TICKS, risk_free_rate: float = 0.0) -> Result:
    clock = ReplayClock()
    source = ReplaySource(symbol, [(data.ts_ns, data.price, data.size)], clock, batch_ticks)
    daemon = Daemon(wiring.build(cfg, strategy, wiring.paper_venue(cfg, strategy, clock, source)))
    fills: list[Fill] = []
    daemon.inventory.tap_fills(fills.append)
    code = asyncio.run(daemon.run())
    interval_s = strategy.bar_interval_ns // 1_000_000_000
    series = bars.closes(bars.build(data.ts_ns, data.price, data.size, interval_s))
    margin = daemon.broker.margin if isinstance(daemon.broker, PaperBroker) else None
    bt = report.Backtest(fills, series.end_ns, series.close, interval_s,
                         daemon.inventory.starting_cash, risk_free_rate,
                         margin.funding if margin else (), margin.liquidations if margin else ())
    return Result(code, report.write(bt, out), daemon)
