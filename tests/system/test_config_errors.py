"""Every bad config case exits 78 with one message naming the key; nothing starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.configs import SHIPPED

ETH_BTC = """
[[market.instruments]]
symbol = "ETH/BTC"
price_increment = "0.00001"
size_increment = "0.0001"
min_qty = "0.0001"
max_qty = "9000"
min_notional = "0.0001"
"""

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "bad value": (SHIPPED.replace('max_order_notional = "20000"', 'max_order_notional = "0"'),
                  "risk.max_order_notional: must be > 0"),
    "wrong type": (SHIPPED.replace("max_orders_per_second = 5", 'max_orders_per_second = "5"'),
                   "risk.max_orders_per_second: expected `int`, got `str`"),
    "missing key": (SHIPPED.replace('max_position_notional = "25000"', ""),
                    "risk.max_position_notional: missing required key"),
    "unknown key": (SHIPPED.replace("[shutdown]", "[shutdown]\nflaten_timeout_s = 3"),
                    "shutdown.flaten_timeout_s: unknown key"),
    "malformed toml": (SHIPPED + "\n[broken\n", "malformed TOML"),
    "strategy not importable": (
        SHIPPED.replace("strategies.ar_forecast:ARForecastStrategy", "strategies.nope:Missing"),
        "strategy.class: cannot import module 'strategies.nope'"),
    "not a strategy": (
        SHIPPED.replace("strategies.ar_forecast:ARForecastStrategy",
                        "tests.support.strategies:NotAStrategy"),
        "strategy.class: 'tests.support.strategies:NotAStrategy' is not a Strategy subclass"),
    "weights file missing": (
        SHIPPED.replace('# weights = "path/to/model.pt"', 'weights = "no/such/model.pt"'),
        "strategy.params.weights: file not found"),
    "strategy param wrong type": (SHIPPED.replace('scale = "1.0"', 'scale = "lots"'),
                                  "strategy.params.scale: invalid decimal string"),
    "not a number": (SHIPPED.replace("fee_bps = 7.5", "fee_bps = nan"),
                     "paper.fee_bps: must be a finite number"),
    "infinite timeout": (SHIPPED.replace("flatten_timeout_s = 30", "flatten_timeout_s = inf"),
                         "shutdown.flatten_timeout_s: must be a finite number"),
    "mixed quote currencies": (
        SHIPPED.replace("[paper]", ETH_BTC + "\n[paper]", 1),
        "market.instruments[1].symbol: quote currency BTC differs from USDT"),
    "paper maintenance margin": (
        SHIPPED.replace("[paper]", '[paper]\nmaintenance_margin_rate = "0.6"', 1),
        "paper.maintenance_margin_rate: must be > 0 and < 0.5"),
    "paper funding rates file": (
        SHIPPED.replace("[paper]", '[paper]\nfunding_rates = "no/such/rates.csv"', 1),
        "paper.funding_rates: cannot read"),
    "telegram without a token": (SHIPPED + '\n[notify.telegram]\nchat_id = "-100987"\n',
                                 "notify.telegram: no bot token"),
}


# Every case through `run` (what systemd starts); a few through `check-config` too, which
# shares the loading path — each launch costs seconds of interpreter and torch start-up.
PAIRS = [(case, "run") for case in CASES] + [
    (case, "check-config") for case in ("bad value", "unknown key", "weights file missing",
                                        "mixed quote currencies", "paper maintenance margin",
                                        "paper funding rates file")]


@pytest.mark.parametrize(("case", "command"), PAIRS)
def test_bad_config_exits_78_naming_the_key(tmp_path: Path, case: str, command: str) -> None:
    text, message = CASES[case]
    path = tmp_path / "config.toml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "daemon", command, "--config", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78, proc.stderr
    assert proc.stdout == ""  # no log line: nothing started
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tradingd: config error: {message}"), lines


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "daemon", "run", "--config",
                           str(tmp_path / "absent.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 78 and "cannot read config file" in proc.stderr


def test_check_config_prints_a_summary_of_the_shipped_config() -> None:
    proc = subprocess.run([sys.executable, "-m", "daemon", "check-config", "--config",
                           "config.toml"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "config OK" in proc.stdout and "ARForecastStrategy" in proc.stdout
