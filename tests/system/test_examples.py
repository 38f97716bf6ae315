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
