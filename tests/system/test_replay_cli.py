"""`tradingd replay` as a user runs it: the README's commands as written, a halt that says so in
the summary, the exit code and `final_state.json`, and a fresh state every run."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "replay_ar_12h.toml"
DATA = "examples/data/binance_spot_BTCUSDT_1h_2017-08-17_2024-04-21.csv.gz"
SUMMARY = re.compile(r"^replayed [\d,]+ ticks in [\d.]+s \([\d,]+/s\): (.*)$", re.MULTILINE)


def tradingd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, check=False)


def outcome(done: subprocess.CompletedProcess[str]) -> str:
    """The summary without its timing: bars, orders, fills, PnL, fees, equity, flat."""
    match = SUMMARY.search(done.stderr)
    assert match, done.stderr[-2000:]
    return match.group(1)


def readme_commands(*sections: str) -> list[list[str]]:
    """Every `tradingd` command in the shell blocks of these README sections."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for title in sections:
        body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```sh\n(.*?)```", body, re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words and words[0].endswith("bin/tradingd"):
                    commands.append(words[1:])
                elif words:  # the rest are make targets: CI and their own tests run those
                    assert words[0] == "make", line
    return commands


def test_the_readme_replay_commands_run_as_written() -> None:
    commands = readme_commands("Quick start", "Replay and performance")
    assert len(commands) == 2 and all(c[0] == "replay" for c in commands)
    for args in commands:
        done = tradingd(*args, "--no-progress")
        assert done.returncode == 0, done.stderr[-2000:]
        assert outcome(done) == ("4,879 bars, 1,874 orders, 2,055 fills; realized PnL "
                                 "12975.5951, fees 10838.2972, equity 12137.2979, flat True")


def test_a_halted_replay_says_so_and_two_runs_agree(tmp_path: Path) -> None:
    """A long/short config whose drawdown limit binds: exit 3, the summary names the breaker,
    when and why; final_state.json agrees; a second run (fresh state) does the same again."""
    text = EXAMPLE.read_text().replace('kind = "spot"', 'kind = "swap"')
    config = tmp_path / "swap.toml"
    config.write_text(text.replace("max_drawdown_pct = 90", "max_drawdown_pct = 50"))
    first = tradingd("replay", "--config", str(config), "--data", DATA, "--no-progress",
                     "--state-dir", str(tmp_path / "state"))
    assert first.returncode == 3, first.stderr[-2000:]
    halted = re.search(r"^HALTED at (\S+ \S+) UTC \(data time\) by drawdown: (equity .*% below "
                       r"its peak .* > 50%);", first.stderr, re.MULTILINE)
    assert halted, first.stderr[-2000:]
    final = json.loads((tmp_path / "state" / "final_state.json").read_text())
    assert final["halt"]["halted"] and final["halt"]["reason"] == "drawdown"
    assert final["halt"]["detail"] == halted.group(2)
    assert final["flat"] and final["state"] == "halted"
    again = tradingd("replay", "--config", str(config), "--data", DATA, "--no-progress")
    assert again.returncode == 3 and outcome(again) == outcome(first)
    reused = tradingd("replay", "--config", str(config), "--data", DATA, "--no-progress",
                      "--state-dir", str(tmp_path / "state"))
    assert reused.returncode == 3 and outcome(reused) == outcome(first)


def test_a_state_dir_holding_another_daemons_state_is_refused_untouched(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "risk_state.json").write_text('{"halted": true}')
    done = tradingd("replay", "--config", str(EXAMPLE), "--data", DATA, "--state-dir",
                    str(state))
    assert done.returncode == 78
    assert "holds risk_state.json" in done.stderr
    assert (state / "risk_state.json").read_text() == '{"halted": true}'


def test_a_liquidated_swap_replay_says_when_at_what_price_and_the_loss(tmp_path: Path) -> None:
    """Steps: the paper-swaps scenario (tests/component/test_paper_swaps.py) from a trades CSV
    through `tradingd replay`: 0.5 BTC bought at 60,000 on 5x isolated, the market falls 5,000
    an hour; the summary gives the funding paid at 01:00 and 02:00 and the liquidation: when,
    closed at the bankruptcy price 48,000, a loss of the whole 6,000 margin."""
    from tests.component.test_paper_swaps import CONFIG, falling_market

    data = falling_market()
    rows = [f"{int(t) // 10**6},{float(p)!r},0.01"
            for t, p in zip(data.ts_ns, data.price, strict=True)]
    (tmp_path / "trades.csv").write_text("time,price,qty\n" + "\n".join(rows) + "\n")
    (tmp_path / "perp.toml").write_text(CONFIG)
    done = tradingd("replay", "--config", str(tmp_path / "perp.toml"), "--data",
                    str(tmp_path / "trades.csv"), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    funding = re.search(r"^funding (-[\d.]+) \(2 settlements\); 1 liquidations$", done.stderr,
                        re.MULTILINE)
    assert funding, done.stderr[-2000:]
    liquidated = re.search(r"^LIQUIDATED BTC/USDT:USDT at 2024-01-01 (\S+) UTC \(data time\): "
                           r"0\.5 long closed at 48000\.0 \(liquidation price 48241\.20\d+, "
                           r"trade (\S+)\); loss -6000\.0000$", done.stderr, re.MULTILINE)
    assert liquidated, done.stderr[-2000:]
    assert "02:31:00" < liquidated.group(1) < "02:32:00"
