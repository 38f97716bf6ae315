"""A replay under the market fill model against a plain loop: the same fills, whatever the batch
size, as the model's documented rules applied trade by trade.

The reference reads the trades one by one. At each trade it first works the orders it holds:
an order sent at time t reaches the market at t + latency and is worked from the first trade
at or after that; it then takes at most 10% of the volume traded since (the arrival trade
included), each piece at the trade's price moved against it by 10 bps * sqrt(qty / V), V the
volume of the minute before arrival, rounded against us to the tick grid. Then bars close and
the seed AR(3) decides, skipping while an order of its own is still working (as the strategy
does). When the data ends, what is left fills at the last trade, and the stop closes what is
held there. The daemon does the same through its walk, which skips every trade where nothing
can happen: if it skipped one where something could, the fills would differ.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
import torch

from daemon.model import Side
from strategies.ar_forecast import load_model
from tests.component.test_replay_reference import (
    CONFIG,
    SEED,
    Outcome,
    Row,
    assert_same,
    ou,  # noqa: F401 - the fixture
    replay,
)

QTY, TAKER_BPS, TICK, LOT = Decimal("0.01"), Decimal("7.5"), Decimal("0.01"), Decimal("0.00001")
LATENCY_NS, CAP, WINDOW_NS = 100_000_000, Decimal("0.1"), 60 * 10**9
MARKET = CONFIG.replace('fill_model = "touch"', 'fill_model = "market"\nlatency_ms = 100\n'
                        "max_participation = 0.1\nimpact_bps = 10\nvolume_window_s = 60")


@dataclass
class Sent:
    side: Side
    remaining: Decimal
    arrive_ns: int
    arrived: bool = False
    seen: Decimal = Decimal(0)
    taken: Decimal = Decimal(0)
    factor: Decimal = Decimal(1)


def market_reference(ts: list[int], price: list[float], size: list[float],
                     interval_s: int) -> Outcome:
    model = load_model(SEED, 3, interval_s, allow_interval_mismatch=True)
    interval = interval_s * 10**9
    fills: list[Row] = []
    sent: list[Sent] = []
    held = Decimal(0)

    def arrive(o: Sent, t: int) -> None:
        volume = math.fsum(size[bisect_left(ts, t - WINDOW_NS):bisect_left(ts, t)])
        bps = 100.0 if volume <= 0 else min(100.0, 10.0 * math.sqrt(float(
            o.remaining) / volume))
        move = Decimal(f"{bps:.6f}") / 10_000
        o.arrived, o.factor = True, 1 + move if o.side is Side.BUY else 1 - move

    def fill(o: Sent, qty: Decimal, at: float, t: int) -> None:
        nonlocal held
        rounding = ROUND_CEILING if o.side is Side.BUY else ROUND_FLOOR
        px = (Decimal(repr(at)) * o.factor / TICK).to_integral_value(rounding) * TICK
        fills.append((o.side, qty, px, qty * px * TAKER_BPS / 10_000, t))
        o.remaining -= qty
        o.taken += qty
        held += qty if o.side is Side.BUY else -qty

    def work(t: int, p: float, s: float) -> None:
        for o in sent:
            if not o.remaining or (not o.arrived and o.arrive_ns > t):
                continue
            if not o.arrived:
                arrive(o, t)
            o.seen += Decimal(repr(s))
            qty = (min(o.remaining, CAP * o.seen - o.taken) / LOT).to_integral_value(
                ROUND_FLOOR) * LOT
            if qty > 0:
                fill(o, qty, p, t)

    def decide(closes: list[float], t: int) -> None:
        if len(closes) < 4 or any(o.remaining for o in sent):
            return
        lags = [math.log(closes[-k] / closes[-k - 1]) for k in (1, 2, 3)]
        with torch.inference_mode():
            y = model(torch.tensor([lags])).item()
        want = (y > 0) - (y < 0)
        have = (held > 0) - (held < 0)
        if want == have:
            return
        if held:
            sent.append(Sent(Side.SELL if held > 0 else Side.BUY, abs(held), t + LATENCY_NS))
        if want:
            sent.append(Sent(Side.BUY if want > 0 else Side.SELL, QTY, t + LATENCY_NS))

    closes: list[float] = []
    bucket, last = ts[0] // interval, price[0]
    work(ts[0], price[0], size[0])
    for t, p, s in zip(ts[1:], price[1:], size[1:], strict=True):
        work(t, p, s)
        if t // interval > bucket:
            for _ in range(t // interval - bucket):
                closes.append(last)
                decide(closes, t)
            bucket = t // interval
        last = p
    end = ts[-1] + 1  # the clock when the data ran out
    for o in sent:
        if o.remaining:
            if not o.arrived:
                arrive(o, end)
            fill(o, o.remaining, last, end)
    if held:  # the stop's flatten
        close = Sent(Side.SELL if held > 0 else Side.BUY, abs(held), end)
        arrive(close, end)
        fill(close, close.remaining, last, end)
    sells = sum((q * px for sd, q, px, _, _ in fills if sd is Side.SELL), Decimal(0))
    buys = sum((q * px for sd, q, px, _, _ in fills if sd is Side.BUY), Decimal(0))
    return Outcome(fills, len(closes), sells - buys, sum((f[3] for f in fills), Decimal(0)))


@pytest.mark.parametrize("batch_ticks", [1, 97, 5000])
def test_market_model_replay_fills_like_the_plain_loop(
        ou: tuple[list[int], list[float], list[float]],  # noqa: F811
        batch_ticks: int, tmp_path: Path) -> None:
    """30,000 ticks of the benchmark workload, 1-minute bars: orders of 0.01 against trades of
    0.001 to 0.5, so many take two trades or more."""
    want = market_reference(*ou, 60)
    partial = sum(1 for a, b in zip(want.fills, want.fills[1:], strict=False) if a[4] != b[4]
                  and a[0] == b[0] and a[1] + b[1] <= QTY)
    assert want.bars == 499 and len(want.fills) > 200 and partial > 10
    assert_same(replay(*ou, 60, batch_ticks, tmp_path, config=MARKET), want)
