"""The README's research walk-through as a newcomer runs it — data import, train, backtest,
and the config that `tradingd run` then trades — on the repo's sample data; the report opens in
a real headless browser with its charts drawn and no console error; and `tradingd run` loads
none of the research libraries."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
SECTION = "Research: from data to a trained model, a report and a paper run"
# Not tqdm: torch (its hub module) imports it whenever it is installed.
RESEARCH_LIBS = {"pyarrow", "plotly", "matplotlib", "ray", "pandas", "polars"}


def walkthrough() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", body, re.DOTALL)
    assert block
    return [shlex.split(line)[1:] for line in block.group(1).splitlines() if line.strip()]


def tradingd(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, check=False)


def test_the_walkthrough_runs_as_written_and_its_report_renders(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # the commands write research/
    commands = walkthrough()
    assert [c[0] for c in commands] == ["data", "train", "backtest", "run"]
    for args in commands[:-1]:
        done = tradingd(args, tmp_path)
        assert done.returncode == 0, (args, done.stderr[-3000:])
    trained = json.loads(tradingd(commands[1], tmp_path).stdout)  # twice: the same weights
    assert trained["weight"] == pytest.approx(trained["least_squares"]["weight"], abs=1e-9)
    # `run` trades until stopped: what it would load is checked as check-config loads it.
    checked = tradingd(["check-config", *commands[-1][1:]], tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = tmp_path / "research" / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["trades"] > 100 and 0 < metrics["max_drawdown"] < 1
    assert_renders(report / "report.html", tmp_path)


def assert_renders(page: Path, tmp: Path) -> None:
    """Headless Chromium (Debian's, installed by deploy/setup-test-tools.sh) loads the page with
    no network: every chart must have drawn its SVG, and the console must hold no error."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium missing: deploy/setup-test-tools.sh installs it"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / 'chromium'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('class="main-svg"') >= 2, "plotly drew no chart"
    assert "Equity vs buy-and-hold" in done.stdout and 'id="metrics"' in done.stdout
    errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line
              and ("Error" in line or "Uncaught" in line)]
    assert not errors, errors


def test_tradingd_run_loads_no_research_library() -> None:
    """Everything `tradingd run` imports before it trades, in a fresh interpreter."""
    probe = ("import sys\n"
             "from daemon import cli, app, wiring  # run's own path\n"
             "from daemon.commands import run\n"
             "cli.build_parser()\n"
             "from daemon.venues import sim, paper\n"
             "from daemon.venues.ccxt import broker, feed, startup\n"
             "import strategies.ar_forecast\n"
             "print(sorted({m.split('.')[0] for m in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert "torch" in loaded and "ccxt" in loaded  # the probe did load the daemon
    assert not loaded & RESEARCH_LIBS, loaded & RESEARCH_LIBS
