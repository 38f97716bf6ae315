"""A backtest of the seed AR model on the repo's real hourly candles against a plain vectorised
reference written here with numpy: the same round trips (entry and exit time, side, price) and
the same final equity, to the cent.

The reference: hourly closes forward-filled across the data's outages; lags of their log
returns, newest first; the seed weights applied to all bars at once; the position is the
forecast's sign (a swap: long or short, a fixed 0.01 BTC); a bar's orders fill at the first
trade after it ends (a candle's open, or after an outage the next candle's), moved 1 bp against
us and rounded to the cent against us, paying 7.5 bps; at the end the position closes at the
last trade. Candles become trades as the replay reads them: open, extremes, close.
"""

from __future__ import annotations

import csv
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np
import pytest
import torch

from daemon.research.runner import backtest_files
from strategies.ar_forecast import SEED_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
CANDLES = ROOT / "tests" / "data" / "replay" / "binance_spot_BTCUSDT_1h_1000.csv"
HOUR_MS = 3_600_000
QTY, TICK = Decimal("0.01"), Decimal("0.01")


def fill_price(touch: float, buy: bool) -> Decimal:
    moved = Decimal(repr(touch)) * (1 + Decimal(1) / 10_000 * (1 if buy else -1))
    return (moved / TICK).to_integral_value(ROUND_CEILING if buy else ROUND_FLOOR) * TICK


def reference() -> tuple[list[tuple[int, int, str, Decimal, Decimal]], Decimal, Decimal]:
    """The round trips, the final equity, and the slippage paid against each fill's touch."""
    raw = np.loadtxt(CANDLES, delimiter=",", skiprows=1)
    t, o, c = raw[:, 0].astype(np.int64), raw[:, 1], raw[:, 4]
    hours = np.arange(t[0], t[-1] + HOUR_MS, HOUR_MS)
    idx = np.searchsorted(t, hours, side="right") - 1  # the candle whose close each hour ends at
    closes = c[idx]
    blob = torch.load(ROOT / "strategies" / "weights" / SEED_WEIGHTS, weights_only=True)
    w = blob["state_dict"]["weight"][0].double().numpy()
    b = float(blob["state_dict"]["bias"][0])
    r = np.diff(np.log(closes))  # r[k - 1] is bar k's return
    bars = np.arange(3, len(hours) - 1)  # bars with three returns that close before the data ends
    lags = np.stack([r[bars - 1], r[bars - 2], r[bars - 3]], axis=1)
    want = np.sign(lags @ w + b).astype(int)
    closing = np.searchsorted(t, hours[bars] + HOUR_MS)  # the candle whose open closes bar k
    fills: list[tuple[int, bool, Decimal]] = []  # time ms, buy, price
    touches: list[float] = []
    held = 0
    for k, pos in enumerate(want):
        if pos == held:
            continue
        at, touch = int(t[closing[k]]), float(o[closing[k]])
        for leg in ([-held] if held else []) + ([pos] if pos else []):
            fills.append((at, leg > 0, fill_price(touch, leg > 0)))
            touches.append(touch)
        held = pos
    if held:
        fills.append((int(t[-1] + 3 * HOUR_MS // 4), held < 0, fill_price(float(c[-1]), held < 0)))
        touches.append(float(c[-1]))
    slippage = sum(((p - Decimal(repr(m))) * (1 if buy else -1) * QTY
                    for (_, buy, p), m in zip(fills, touches, strict=True)), Decimal(0))
    trips, equity, open_fill = [], Decimal(100_000), None
    for at, buy, price in fills:
        equity += (-price if buy else price) * QTY - QTY * price * Decimal("0.00075")
        if open_fill is None:
            open_fill = (at, buy, price)
        else:
            trips.append((open_fill[0], at, "long" if open_fill[1] else "short", open_fill[2],
                          price))
            open_fill = None
    return trips, equity, slippage


def test_backtest_trades_and_equity_match_a_vectorised_reference(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "replay_ar_12h.toml").read_text()
    text = (text.replace('kind = "spot"', 'kind = "swap"')
            .replace('starting_cash = "10000"', 'starting_cash = "100000"\n'
                     'fill_model = "touch"\nfunding_rate = "0"  # the reference: neither')
            .replace("bar_interval_s = 43200", "bar_interval_s = 3600\n"
                     'allow_interval_mismatch = true\nfixed_qty = "0.01"'))
    config = tmp_path / "c.toml"
    config.write_text(text)
    figures = backtest_files(config, CANDLES, tmp_path / "out", progress=False)
    with (tmp_path / "out" / "trades.csv").open() as f:
        got = [(r["entry_time"], r["exit_time"], r["side"], Decimal(r["entry_price"]),
                Decimal(r["exit_price"])) for r in csv.DictReader(f)]
    trips, equity, slippage = reference()
    assert len(got) == len(trips) > 50
    for (entry, exit_, side, p_in, p_out), g in zip(trips, got, strict=True):
        assert g[2:] == (side, p_in, p_out)
        assert g[0][:16] == _iso(entry)[:16] and g[1][:16] == _iso(exit_)[:16]
    assert Decimal(repr(figures["final_equity"])).quantize(TICK) == equity.quantize(TICK)
    execution = figures["execution"]
    assert execution["fill_model"] == "touch"
    assert execution["taker_fills"] == 2 * len(trips) and execution["maker_fills"] == 0
    assert execution["slippage_paid"] == float(slippage) > 0
    volume = np.loadtxt(CANDLES, delimiter=",", skiprows=1)[:, 5].sum()
    assert execution["volume_share"] == pytest.approx(float(2 * len(trips) * QTY) / volume)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
