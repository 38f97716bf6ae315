"""The simulated market's history for a strategy's warm-up: evenly spaced closed bars ending
where asked, the last close at the walk's start price (where live trading begins), the same for
the same seed, and a pair's dependent on its line."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from daemon.clock import LiveClock
from daemon.config import InstrumentConfig, SimConfig, SimPairConfig
from daemon.venues.sim import SimMarket

S = 10**9
BTC = InstrumentConfig("BTC/USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
                       Decimal(9000), Decimal(5), Decimal(60000))
ETH = InstrumentConfig("ETH/USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"),
                       Decimal(9000), Decimal(5), Decimal(3000))


def test_history_bars_end_where_asked_at_the_start_price() -> None:
    sim = SimMarket([BTC], SimConfig(seed=9), 100, LiveClock())
    bars = asyncio.run(sim.bars("BTC/USDT", 60, 5, 600 * S))
    assert [(b.start_ns, b.end_ns) for b in bars] == [
        ((5 + k) * 60 * S, (6 + k) * 60 * S) for k in range(5)]
    assert bars[-1].close == 60000.0
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    assert all(a.close == b.open for a, b in itertools.pairwise(bars))
    again = asyncio.run(SimMarket([BTC], SimConfig(seed=9), 100, LiveClock()).bars(
        "BTC/USDT", 60, 5, 600 * S))
    assert again == bars


def test_a_pairs_dependent_history_follows_its_line() -> None:
    pair = SimPairConfig("ETH/USDT", "BTC/USDT", Decimal("0.04"))
    sim = SimMarket([BTC, ETH], SimConfig(pair=pair), 100, LiveClock())
    xs = sim.history_closes("BTC/USDT", 60, 50)
    ys = sim.history_closes("ETH/USDT", 60, 50)
    alpha = 3000 - 0.04 * 60000
    spreads = [y - (alpha + 0.04 * x) for x, y in zip(xs, ys, strict=True)]
    assert spreads[-1] == 0.0 and ys[-1] == pytest.approx(3000.0)
    assert max(abs(e) for e in spreads) < 30  # an OU spread of ~6 USDT per sqrt(hour)
