"""`tradingd replay --start`: the replay file's own trades before the start are the strategy's
warm-up history. On the repo's real 1 h candles (tests/data/replay) with 12 h bars, the four
warm-up bars before 2018-02-10 (one across Binance's 34 h maintenance gap) equal an independent
aggregation of the CSV rows; the AR strategy decides at the first bar close after the start, on
the side an independent forecast from those bars gives; no fill comes before the start; and
without the history the first decision waits for live bars."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon import config
from daemon.clock import ReplayClock
from daemon.model import Bar, Fill, Side
from daemon.venues import replay_files
from daemon.venues.replay import ReplaySource
from daemon.venues.replay_history import ReplayHistory, parse_start, split_at
from daemon.wiring import instruments_from_config
from strategies.ar_forecast import load_model
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

ROOT = Path(__file__).resolve().parents[2]
CANDLES = ROOT / "tests" / "data" / "replay" / "binance_spot_BTCUSDT_1h_1000.csv"
SEED = ROOT / "strategies" / "weights" / "ar3_seed_12h.pt"
SYM = "BTC/USDT"
HOUR_NS = 3_600_000_000_000
BAR_NS = 12 * HOUR_NS
START = "2018-02-10T00:00Z"
START_NS = 1_518_220_800 * 1_000_000_000
# The touch fill model: an order fills at the trade that closed its bar (the market model's
# latency would move it to the candle's next trade, 15 minutes on).
CONFIG = IN_PROCESS_HEAD + f"""[paper]
starting_cash = "100000"
fill_model = "touch"
[strategy]
class = "strategies.ar_forecast:ARForecastStrategy"
[strategy.params]
symbol = "BTC/USDT"
bar_interval_s = 43200
fixed_qty = "0.01"
weights = "{SEED}"
[risk]
max_order_notional = "100000"
max_position_notional = "100000"
max_gross_exposure = "100000"
"""


@dataclass(frozen=True)
class Candle:
    open_ns: int
    o: float
    h: float
    lo: float
    c: float
    v: float


def candles() -> list[Candle]:
    with CANDLES.open(newline="") as f:
        return [Candle(int(r["open_time_ms"]) * 1_000_000, float(r["open"]), float(r["high"]),
                       float(r["low"]), float(r["close"]), float(r["volume"]))
                for r in csv.DictReader(f)]


def expected_bars(end_ns: int, count: int) -> list[Bar]:
    """12 h bars from the CSV rows themselves: first open, highest high, lowest low, last
    close, summed volume (four ticks a candle); no candle in 12 h: flat at the last close."""
    rows = candles()
    out = []
    for k in range(count, 0, -1):
        start = end_ns - k * BAR_NS
        inside = [r for r in rows if start <= r.open_ns < start + BAR_NS]
        if inside:
            out.append(Bar(SYM, start, start + BAR_NS, inside[0].o, max(r.h for r in inside),
                           min(r.lo for r in inside), inside[-1].c, sum(r.v for r in inside),
                           4 * len(inside)))
        else:
            last = [r for r in rows if r.open_ns < start][-1].c
            out.append(Bar(SYM, start, start + BAR_NS, last, last, last, last, 0.0, 0))
    return out


def history() -> tuple[tuple[object, object, object], ReplayHistory]:
    data = replay_files.load(CANDLES)
    return split_at(SYM, data.ts_ns, data.price, data.size, START_NS)


def test_start_parses_as_utc_nanoseconds() -> None:
    assert parse_start(START) == parse_start("2018-02-10T00:00:00+00:00") == START_NS
    assert parse_start("2018-02-10T01:00+01:00") == START_NS
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_start("yesterday")


def test_warm_up_bars_are_the_files_own_past_aggregated_independently() -> None:
    live, past = history()
    assert int(live[0][0]) >= START_NS > int(past._ts[-1])  # type: ignore[index]
    got = asyncio.run(past.bars(SYM, 43_200, 4, START_NS))
    want = expected_bars(START_NS, 4)
    assert [b.start_ns for b in got] == [b.start_ns for b in want]
    assert want[1].trades == 0  # 2018-02-08 12:00-24:00: inside the maintenance gap
    for g, w in zip(got, want, strict=True):
        assert (g.open, g.high, g.low, g.close, g.trades) == (w.open, w.high, w.low, w.close,
                                                              w.trades)
        assert g.volume == pytest.approx(w.volume, rel=1e-12)


def forecast_sign(closes: list[float]) -> int:
    """The seed AR(3) on the last three log returns, newest first, in plain Python."""
    model = load_model(SEED, 3, 43_200, False)
    x = [math.log(closes[-1 - k] / closes[-2 - k]) for k in range(3)]
    y = float(model.bias[0]) + sum(float(model.weight[0][k]) * x[k] for k in range(3))
    return 1 if y > 0 else -1


async def replay(with_history: bool, tmp: Path) -> list[Fill]:
    cfg = config.parse(CONFIG, str(tmp))  # its state under the test's tmp, never the repo
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), ROOT))
    live, past = history()
    clock = ReplayClock()
    source = ReplaySource(SYM, [live], clock, 5000)
    daemon = paper_daemon(cfg, strategy, clock, source,
                          history=past if with_history else None)
    fills = record_fills(daemon.inventory)
    assert await daemon.run() == 0
    return fills


@pytest.mark.asyncio
async def test_the_first_bar_after_the_start_already_decides_and_nothing_fills_before(
        tmp_path: Path) -> None:
    """1. replay from the start with the file's past as history; 2. the first fill is at the
    trade that closed the first 12 h bar after the start, on the side the independent
    forecast (four warm-up closes and that bar's) gives; 3. without the history the first fill
    comes bars later."""
    fills = await replay(with_history=True, tmp=tmp_path / "warm")
    assert fills and all(f.ts_ns >= START_NS for f in fills)
    first_close_ns = min(r.open_ns for r in candles() if r.open_ns >= START_NS + BAR_NS)
    assert fills[0].ts_ns == first_close_ns
    first_bar = expected_bars(START_NS + BAR_NS, 1)[0]
    closes = [b.close for b in expected_bars(START_NS, 4)] + [first_bar.close]
    assert fills[0].side is (Side.BUY if forecast_sign(closes) > 0 else Side.SELL)
    cold = await replay(with_history=False, tmp=tmp_path / "cold")
    assert cold and cold[0].ts_ns >= START_NS + 3 * BAR_NS


def test_replay_cli_start_warms_up_from_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "replay.toml"
    cfg.write_text(CONFIG.replace('state_dir = "state"', f'state_dir = "{tmp_path}/state"'))
    done = subprocess.run([sys.executable, "-m", "daemon", "replay", "--config", str(cfg),
                           "--data", str(CANDLES), "--start", START, "--no-progress"],
                          cwd=ROOT, text=True, capture_output=True, timeout=300, check=False,
                          env={**os.environ, "LOG_LEVEL": "info"})
    assert done.returncode == 0, done.stderr[-2000:]
    records = {r["event"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert records["warmup.done"]["bars"] == 4
    assert records["warmup.done"]["last_end_ns"] == START_NS
    assert records["ar.first_forecast"]["live_bars"] == 1
    before = 4 * sum(r.open_ns < START_NS for r in candles())  # four ticks a candle
    assert f"the {before:,} before it the warm-up's" in done.stderr, done.stderr
    late = subprocess.run([sys.executable, "-m", "daemon", "replay", "--config", str(cfg),
                           "--data", str(CANDLES), "--start", "2019-01-01", "--no-progress"],
                          cwd=ROOT, text=True, capture_output=True, timeout=300, check=False)
    assert late.returncode == 65 and "--start is after the data's last trade" in late.stderr


def test_backtest_start_reports_from_the_start(tmp_path: Path) -> None:
    """`tradingd backtest --start`: the same warm-up, and the report (equity, fills) begins at
    the start: its first bar ends 12 h after it, its first fill is at that bar's close."""
    cfg = tmp_path / "backtest.toml"
    cfg.write_text(CONFIG.replace('state_dir = "state"', f'state_dir = "{tmp_path}/state"'))
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "daemon", "backtest", "--config", str(cfg),
                           "--data", str(CANDLES), "--out", str(out), "--start", START],
                          cwd=ROOT, text=True, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with (out / "equity.csv").open() as f:
        equity = list(csv.DictReader(f))
    with (out / "fills.csv").open() as f:
        fills = list(csv.DictReader(f))
    assert equity[0]["time"] == "2018-02-10T12:00:00Z"
    assert fills and fills[0]["time"] == "2018-02-10T12:00:00Z"
    assert all(r["time"] >= "2018-02-10T00:00:00Z" for r in equity + fills)
    bad = subprocess.run([sys.executable, "-m", "daemon", "backtest", "--config", str(cfg),
                          "--data", str(CANDLES), "--out", str(out), "--start", "soon"],
                         cwd=ROOT, text=True, capture_output=True, timeout=300, check=False)
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr
