"""`tradingd backtest`: a replay through the daemon's real path, then the report.

The run is `tradingd replay`'s (same `Daemon`, paper broker, market walk, risk gate); its fills
are taken from the books as they are booked (`InventoryManager.tap_fills`). The report's bars
are rebuilt from the same data by the daemon's own `BarAggregator` at the strategy's interval.
The paper broker's own account of its fills (`stats`: slippage, maker/taker) joins the report
as `execution`, with the share of the traded volume the fills took.
With a start (`--start`), the trades before it are the warm-up's history and the report covers
the run from the start.
"""

from __future__ import annotations

import asyncio
import math
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
from daemon.venues.replay_files import DataFileError, Recorded
from daemon.venues.replay_history import split_at
from strategies.base import Strategy


def execution(cfg: Config, daemon: Daemon, market_volume: float) -> dict[str, Any]:
    """How the fills were had: the fill model, the slippage paid against the mid when each
    order was sent, maker/taker counts, and the share of the market's volume taken."""
    out: dict[str, Any] = {"fill_model": cfg.paper.fill_model.value}
    broker = daemon.broker
    if isinstance(broker, PaperBroker):
        out.update(broker.stats.summary())
        filled = float(broker.stats.filled_qty)
        out["volume_share"] = filled / market_volume if market_volume > 0 else math.nan
    return out


@dataclass
class Result:
    exit_code: int
    metrics: dict[str, Any]
    daemon: Daemon


def run(cfg: Config, strategy: Strategy[Any], data: Recorded, symbol: str, out: Path,
        batch_ticks: int = DEFAULT_BATCH_TICKS, risk_free_rate: float = 0.0,
        start_ns: int | None = None) -> Result:
    clock = ReplayClock()
    columns: tuple[Any, Any, Any] = (data.ts_ns, data.price, data.size)
    history = None
    if start_ns is not None:
        columns, history = split_at(symbol, *columns, start_ns)
        if not len(columns[0]):
            raise DataFileError("--start is after the data's last trade")
    source = ReplaySource(symbol, [columns], clock, batch_ticks)
    daemon = Daemon(wiring.build(cfg, strategy, wiring.paper_venue(cfg, strategy, clock, source,
                                                                   history)))
    fills: list[Fill] = []
    daemon.inventory.tap_fills(fills.append)
    code = asyncio.run(daemon.run())
    interval_s = strategy.bar_interval_ns // 1_000_000_000
    series = bars.closes(bars.build(*columns, interval_s))
    margin = daemon.broker.margin if isinstance(daemon.broker, PaperBroker) else None
    bt = report.Backtest(fills, series.end_ns, series.close, interval_s,
                         daemon.inventory.starting_cash, risk_free_rate,
                         margin.funding if margin else (), margin.liquidations if margin else (),
                         execution(cfg, daemon, math.fsum(columns[2])))
    return Result(code, report.write(bt, out), daemon)
