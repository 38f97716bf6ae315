"""A backtest of the seed AR model on the repo's 1,000 real hourly candles writes every file of
the report, and the report's figures agree with the books the daemon ended with."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from daemon import config
from daemon.research import backtest
from daemon.venues import replay_files
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load

ROOT = Path(__file__).resolve().parents[2]
CANDLES = ROOT / "tests" / "data" / "replay" / "binance_spot_BTCUSDT_1h_1000.csv"
EXAMPLE = ROOT / "examples" / "replay_ar_12h.toml"


def test_backtest_writes_a_report_that_agrees_with_the_books(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("bar_interval_s = 43200", "bar_interval_s = 3600\n"
                                       "allow_interval_mismatch = true")
    cfg = config.parse(text.replace('log_level = "warning"', 'log_level = "warning"\n'
                                    'state_dir = "state"'), str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    data = replay_files.load(CANDLES)
    result = backtest.run(cfg, strategy, data, "BTC/USDT", tmp_path / "report")
    assert result.exit_code == 0
    out = tmp_path / "report"
    for name in ("metrics.json", "trades.csv", "fills.csv", "equity.csv", "report.html",
                 "equity.png"):
        assert (out / name).stat().st_size > 0, name
    figs = json.loads((out / "metrics.json").read_text())
    inv = result.daemon.inventory
    with (out / "equity.csv").open() as f:
        rows = list(csv.reader(f))
    hours = (int(data.ts_ns[-1]) - int(data.ts_ns[0])) // 3_600_000_000_000 + 1
    assert hours == 1034  # 1,000 candles and a 34-hour outage: one row per hourly bar
    assert rows[0] == ["time", "equity"] and len(rows) == 1 + hours
    assert Decimal(rows[-1][1]) == inv.equity()  # flat at the end: equity is cash
    assert figs["final_equity"] == float(inv.equity())
    assert figs["fees"] == pytest.approx(float(inv.fees), rel=1e-12)
    with (out / "fills.csv").open() as f:
        assert sum(1 for _ in f) - 1 == inv.fill_count
    with (out / "trades.csv").open() as f:
        trips = list(csv.DictReader(f))
    assert len(trips) == figs["trades"] > 10
    assert sum(Decimal(t["pnl"]) for t in trips) == inv.realized_pnl - inv.fees
    assert set(figs) >= {"total_return", "cagr", "volatility", "sharpe", "sortino", "calmar",
                         "max_drawdown", "max_drawdown_duration_s", "win_rate", "profit_factor",
                         "expectancy", "trades", "exposure", "fees", "periods_per_year",
                         "risk_free_rate", "buy_and_hold"}
