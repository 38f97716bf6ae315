"""A replay through the real daemon against a straightforward reference: the same fills and the
same final PnL, whatever the batch size, and the same again on a second run.

The paper broker runs the touch model (`fill_model = "touch"`); the market model has its own
reference (`test_replay_reference_market.py`). The reference walks the trades one by one in
plain Python: bars on the epoch grid (an interval with no trade is a flat bar at the last
close), the seed AR(3) forecast from the same torch
weights on the last three bar log returns, and a fixed quantity flipped (close, then open) when
the forecast's sign changes — filled at once at the price of the trade that closed the bar,
moved by the slippage and rounded against us to the tick grid, paying the fee on the notional.
Whatever is open when the data ends is closed at the last trade. The daemon replays the same
trades through its tasks, risk gate, inventory and paper broker in batches of 1 to 100,000.
"""

from __future__ import annotations

import asyncio
import gc
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.workload import ou_chunks
from daemon import config
from daemon.app import Daemon
from daemon.clock import ReplayClock
from daemon.model import Fill, Side
from daemon.venues import replay_files
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.ar_forecast import load_model, save_weights
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

DATA = Path(__file__).resolve().parents[1] / "data" / "replay"
TRADES = DATA / "binance_spot_BTCUSDT_trades_2024-08-08T2354Z_3000.csv"
CANDLES = DATA / "binance_spot_BTCUSDT_1h_1000.csv"
SEED = Path(__file__).resolve().parents[2] / "strategies" / "weights" / "ar3_seed_12h.pt"
QTY, FEE_BPS, SLIP_BPS, TICK = Decimal("0.01"), Decimal("7.5"), Decimal(1), Decimal("0.01")

CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "100000"
fill_model = "touch"
fee_bps = 7.5
slippage_bps = 1.0
[strategy]
class = "strategies.ar_forecast:ARForecastStrategy"
[strategy.params]
symbol = "BTC/USDT"
bar_interval_s = {interval_s}
allow_interval_mismatch = true
fixed_qty = "0.01"
weights = "{weights}"
[risk]
max_order_notional = "100000"
max_position_notional = "100000"
max_orders_per_second = 10
"""

Row = tuple[Side, Decimal, Decimal, Decimal, int]  # side, qty, price, fee, ts_ns


@dataclass
class Outcome:
    fills: list[Row]
    bars: int
    realized: Decimal
    fees: Decimal


def replay_daemon(ts: Any, price: Any, size: Any, interval_s: int, batch_ticks: int,
                  tmp: Path, weights: Path = SEED, config_text: str = CONFIG) -> Daemon:
    cfg = config.parse(config_text.format(interval_s=interval_s, weights=weights), str(tmp))
    ctx = StrategyContext(instruments_from_config(cfg), tmp)
    strategy = load(cfg.strategy.class_path, cfg.strategy.params, ctx)
    clock = ReplayClock()
    source = ReplaySource("BTC/USDT", [(ts, price, size)], clock, batch_ticks)
    return paper_daemon(cfg, strategy, clock=clock, source=source)


def replay(ts: Any, price: Any, size: Any, interval_s: int, batch_ticks: int,
           tmp: Path, weights: Path = SEED, config: str = CONFIG) -> Outcome:
    daemon = replay_daemon(ts, price, size, interval_s, batch_ticks, tmp, weights, config)
    booked = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    inv = daemon.inventory
    assert inv.is_flat()
    return Outcome([(f.side, f.qty, f.price, f.fee_quote, f.ts_ns) for f in booked],
                   daemon.signals.bars_closed, inv.realized_pnl, inv.fees)


def reference(ts: list[int], price: list[float], interval_s: int,
              weights: Path = SEED) -> Outcome:
    model = load_model(weights, 3, interval_s, allow_interval_mismatch=True)
    interval = interval_s * 10**9
    fills: list[Row] = []
    held = 0  # -1, 0, +1 positions of QTY

    def fill(side: Side, at: float, ts_ns: int) -> None:
        touch = Decimal(repr(at))
        if side is Side.BUY:
            px = (touch * (1 + SLIP_BPS / 10_000) / TICK).to_integral_value(ROUND_CEILING) * TICK
        else:
            px = (touch * (1 - SLIP_BPS / 10_000) / TICK).to_integral_value(ROUND_FLOOR) * TICK
        fills.append((side, QTY, px, QTY * px * FEE_BPS / 10_000, ts_ns))

    def decide(closes: list[float], at: float, ts_ns: int) -> None:
        nonlocal held
        if len(closes) < 4:
            return
        lags = [math.log(closes[-k] / closes[-k - 1]) for k in (1, 2, 3)]  # newest first
        with torch.inference_mode():
            y = model(torch.tensor([lags])).item()
        want = (y > 0) - (y < 0)
        if want == held:
            return
        if held:
            fill(Side.SELL if held > 0 else Side.BUY, at, ts_ns)
        if want:
            fill(Side.BUY if want > 0 else Side.SELL, at, ts_ns)
        held = want

    closes: list[float] = []
    bucket, last = ts[0] // interval, price[0]
    for t, p in zip(ts[1:], price[1:], strict=True):
        if t // interval > bucket:  # this trade closes the open bar and any empty ones after it
            for _ in range(t // interval - bucket):
                closes.append(last)
                decide(closes, p, t)
            bucket = t // interval
        last = p
    if held:  # the data ran out: the daemon stops and flattens at the last trade
        fill(Side.SELL if held > 0 else Side.BUY, last, ts[-1] + 1)
    sells = sum((q * px for s, q, px, _, _ in fills if s is Side.SELL), Decimal(0))
    buys = sum((q * px for s, q, px, _, _ in fills if s is Side.BUY), Decimal(0))
    return Outcome(fills, len(closes), sells - buys, sum((f[3] for f in fills), Decimal(0)))


def assert_same(got: Outcome, want: Outcome) -> None:
    assert got.bars == want.bars
    assert len(got.fills) == len(want.fills)
    for k, (g, w) in enumerate(zip(got.fills, want.fills, strict=True)):
        assert g == w, f"fill {k}: daemon {g} != reference {w}"
    assert (got.realized, got.fees) == (want.realized, want.fees)


@pytest.fixture(scope="module")
def ou() -> tuple[list[int], list[float], list[float]]:
    ts, price, size = next(ou_chunks(30_000))
    return ts.tolist(), price.tolist(), size.tolist()


@pytest.mark.parametrize("batch_ticks", [1, 97, 5000, 100_000])
def test_ar_workload_replay_fills_like_the_reference(
        ou: tuple[list[int], list[float], list[float]], batch_ticks: int,
        tmp_path: Path) -> None:
    """30,000 ticks of the benchmark workload, 1-minute bars: ~500 bars, ~150 flips."""
    want = reference(ou[0], ou[1], 60)
    assert want.bars == 499 and len(want.fills) > 200
    assert_same(replay(*ou, 60, batch_ticks, tmp_path), want)


@pytest.mark.parametrize("batch_ticks", [1, 250, 100_000])
def test_real_trades_with_same_millisecond_prints_fill_at_the_closing_trade(
        batch_ticks: int, tmp_path: Path) -> None:
    """3,000 real trades, 1-second bars: a bar closes on the first trade of a new second, and
    the orders fill at that trade even when others share its millisecond (and its batch)."""
    # The seed's bias decides every 1 s bar (one buy, held); a mean-reverting AR(3) without
    # bias flips often, and goes flat when the last returns are zero.
    weights = tmp_path / "mean_reverting.pt"
    save_weights(weights, [[-1.0, -0.5, -0.25]], [0.0], bar_interval_s=1)
    data = replay_files.load(TRADES)
    want = reference(data.ts_ns.tolist(), data.price.tolist(), 1, weights)
    assert len(want.fills) > 50
    got = replay(data.ts_ns, data.price, data.size, 1, batch_ticks, tmp_path, weights)
    assert_same(got, want)


@pytest.mark.parametrize("batch_ticks", [333, 1187])
def test_candles_with_gaps_close_every_bar_and_each_sees_the_last_ones_fills(
        batch_ticks: int, tmp_path: Path) -> None:
    """1,000 hourly candles with a 34 h gap: one trade closes 34 bars, one after the other.
    With 1,187-tick batches that trade is the last of its batch."""
    data = replay_files.load(CANDLES)
    assert data.ts_ns[3560] - data.ts_ns[3559] > 30 * 3600 * 10**9  # the gap, 3 x 1,187 - 1
    want = reference(data.ts_ns.tolist(), data.price.tolist(), 3600)
    assert want.bars == 1033 and len(want.fills) > 50  # 1,000 candles, 34 missing, last open
    assert_same(replay(data.ts_ns, data.price, data.size, 3600, batch_ticks, tmp_path), want)


def test_two_runs_of_the_same_input_give_identical_fills(
        ou: tuple[list[int], list[float], list[float]], tmp_path: Path) -> None:
    first = replay(*ou, 60, 5000, tmp_path / "a")
    second = replay(*ou, 60, 5000, tmp_path / "b")
    assert first == second


def test_startup_heap_is_frozen_before_the_first_order(
        ou: tuple[list[int], list[float], list[float]], tmp_path: Path) -> None:
    """A full collection over torch's objects stalls the loop ~60 ms: by the first fill the
    daemon has moved everything startup made out of the collector's reach."""
    ts, price, size = ou
    daemon = replay_daemon(ts[:20_000], price[:20_000], size[:20_000], 60, 5000, tmp_path)
    frozen_at_first_fill: list[int] = []

    def record(fill: Fill) -> None:
        if not frozen_at_first_fill:
            frozen_at_first_fill.append(gc.get_freeze_count())

    daemon.inventory.tap_fills(record)
    gc.unfreeze()
    try:
        assert asyncio.run(daemon.run()) == 0
    finally:
        gc.unfreeze()  # leave the process as other tests expect it
    assert frozen_at_first_fill and frozen_at_first_fill[0] > 50_000
