"""From files to a report: what `tradingd backtest` and each `sweep` task do.

The config is loaded and validated as `tradingd run` loads it, with the strategy's params
overridden where a sweep says; the replay gets its own temporary state directory and a free
metrics port, like `tradingd replay`'s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import msgspec

from daemon import config as config_mod
from daemon import wiring
from daemon.config import MetricsConfig
from daemon.research import backtest, loading
from daemon.research.report import iso
from strategies.base import StrategyContext
from strategies.base import load as load_strategy


def backtest_files(config_path: Path, data_path: Path, out: Path,
                   params: dict[str, Any] | None = None, symbol: str | None = None,
                   progress: bool = True, risk_free_rate: float = 0.0,
                   start_ns: int | None = None) -> dict[str, Any]:
    """Run the backtest and write its report into `out`; return its figures, plus `halt` (why
    and when a breaker halted it, which ends the backtest there; else None) and `exit_code`
    (0 done, 3 halted)."""
    cfg = config_mod.load(config_path)
    if params:
        merged = {**cfg.strategy.params, **params}
        cfg = msgspec.structs.replace(cfg, strategy=msgspec.structs.replace(
            cfg.strategy, params=merged))
    strategy = load_strategy(cfg.strategy.class_path, cfg.strategy.params,
                             StrategyContext(wiring.instruments_from_config(cfg),
                                             Path(cfg.config_dir)))
    data = loading.load(data_path)
    with tempfile.TemporaryDirectory(prefix="tradingd-backtest-") as state:
        cfg = msgspec.structs.replace(
            cfg, daemon=msgspec.structs.replace(cfg.daemon, state_dir=state),
            metrics=MetricsConfig(listen="127.0.0.1:0"))
        result = backtest.run(cfg, strategy, data, symbol or cfg.market.instruments[0].symbol,
                              out, risk_free_rate=risk_free_rate, start_ns=start_ns)
    latch = result.daemon.supervisor.latch
    halt = {"reason": latch.halt_reason, "detail": latch.halt_detail,
            "time": iso(latch.halted_ns)} if latch.halted else None
    return {**result.metrics, "halt": halt,
            "exit_code": 3 if halt and result.exit_code == 0 else result.exit_code}
