"""`tradingd check-config`: validate a config, and load its strategy, without trading."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from daemon import wiring
from daemon.exitcodes import ExitCode


def main(args: argparse.Namespace, fail: Any) -> int:
    path: Path = args.config
    cfg, strategy = wiring.load(path)
    print(f"config OK: {path}")
    print(f"  mode:        {cfg.daemon.mode.value} (market: {cfg.market.source.value})")
    print(f"  instruments: {', '.join(i.symbol for i in cfg.market.instruments)}")
    print(f"  strategy:    {cfg.strategy.class_path} "
          f"(bars of {strategy.bar_interval_ns / 1e9:g}s on {', '.join(strategy.symbols)})")
    r = cfg.risk
    print(f"  risk:        max order {r.max_order_notional}, max position "
          f"{r.max_position_notional}, gross {r.max_gross_exposure}, leverage "
          f"{r.max_leverage}x, collar {r.price_collar_bps} bps, "
          f"{r.max_orders_per_second} orders/s, {r.max_orders_per_minute} orders/min, "
          f"stale after {r.stale_data_s:g}s, start {r.initial_state.value}")
    print(f"  breakers:    daily loss {r.max_daily_loss}, drawdown {r.max_drawdown_pct}%, "
          f"{r.max_rejections_per_minute} rejections/min")
    c = cfg.control
    where = f"unix socket {c.unix} under state_dir" if c.unix else f"http://{c.address}"
    print(f"  control:     {where if c.enabled else 'off'}")
    print(f"  shutdown:    flatten within {cfg.shutdown.flatten_timeout_s:g}s")
    print(f"  metrics:     http://{cfg.metrics.listen}/metrics")
    return ExitCode.OK
