"""The shipped examples: every `examples/*.toml` passes `tradingd check-config`, and each of the
three strategy examples trades on the embedded simulated market within two minutes (no keys, no
network) and stops flat on SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon_proc import DaemonProcess

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
STRATEGY_EXAMPLES = ["market_making.toml", "momentum.toml", "pairs.toml"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_check_config(example: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "daemon", "check-config", "--config",
                           str(example)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith("config ok")


@pytest.mark.parametrize("name", STRATEGY_EXAMPLES)
def test_strategy_example_trades_on_the_sim(name: str, tmp_path: Path,
                                            daemons: Callable[..., DaemonProcess]) -> None:
    """1. the example runs as shipped (copied, so its state stays in the test's directory);
    2. it fills an order within two minutes; 3. SIGTERM: exit 0, flat."""
    config = tmp_path / name
    shutil.copy(ROOT / "examples" / name, config)
    d = daemons(config)
    d.wait_for("order.filled", 120)
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.why()
    assert d.last_record["event"] == "shutdown.complete" and d.last_record["flat"] is True


def test_the_perpetual_example_pays_funding_on_the_sim(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: examples/ar_perp.toml (the seed strategy, 2.5x on 3x isolated) with funding every
    5 s instead of 8 h, its metrics on a free port; once positioned, a settlement is booked
    (`funding.booked`, paid: the default charges every position), once per settlement time;
    SIGTERM: exit 0, flat."""
    text = (ROOT / "examples" / "ar_perp.toml").read_text()
    text = (text.replace("funding_interval_s = 28800", "funding_interval_s = 5")
            .replace('listen = "127.0.0.1:9464"', 'listen = "127.0.0.1:0"'))
    config = tmp_path / "ar_perp.toml"
    config.write_text(text)
    d = daemons(config)
    d.wait_for("order.filled", 120)
    booked = d.wait_for("funding.booked", 60)
    assert booked["funding_id"].startswith("paper-BTC/USDT:USDT-")
    assert int(booked["funding_id"].rsplit("-", 1)[1]) % 5000 == 0  # on the 5 s grid
    assert float(booked["amount"]) < 0 and booked["position"] not in ("0", 0)
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.why()
    assert d.last_record["event"] == "shutdown.complete" and d.last_record["flat"] is True
    ids = [r["funding_id"] for r in d.records if r.get("event") == "funding.booked"]
    assert len(ids) == len(set(ids))
