"""A replay knows nothing of the future: whatever the batch size, the same fills, fees, equity
and halts — checked against a walk that stops and evaluates at every single tick.

The strategies size from equity at the mark (compounding), so a mark from later in a batch
changes every quantity; the breakers are tight enough to trip, so a breaker judged on a later
price trips at the wrong time (or at all); the limit variant rests orders that must fill at the
first trade that reaches them, not at a batch's closing quote.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon import config
from daemon.app import Daemon, instruments_from_config
from daemon.clock import ReplayClock
from daemon.market_walk import MarketWalk
from daemon.marketdata.replay import ReplaySource
from daemon.model import Side
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills

DAY_MS = 86_400_000
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "10000"
fee_bps = 7.5
slippage_bps = 1.0
[strategy]
class = "tests.support.compounding:Compounder"
[strategy.params]
symbol = "BTC/USDT"
bar_interval_s = {interval_s}
scale = "{scale}"
limit_offset = "{offset}"
[risk]
max_order_notional = "1000000"
max_position_notional = "1000000"
max_gross_exposure = "1000000"
max_leverage = "50"
max_orders_per_second = 1000
max_orders_per_minute = 60000
price_collar_bps = 5000
stale_data_s = 1000000
max_daily_loss = "{daily}"
max_drawdown_pct = {drawdown}
"""

Row = tuple[Side, Decimal, Decimal, Decimal, int]


@dataclass(frozen=True)
class Case:
    ts_ms: list[int]
    price: list[float]
    interval_s: int
    scale: str
    offset: str
    daily: str
    drawdown: int


@dataclass
class Outcome:
    fills: list[Row]
    equity: Decimal
    halt: tuple[bool, str, str, int]


def run_replay(case: Case, batch_ticks: int, tmp: Path, exhaustive: bool = False) -> Outcome:
    cfg = config.parse(CONFIG.format(interval_s=case.interval_s, scale=case.scale,
                                     offset=case.offset, daily=case.daily,
                                     drawdown=case.drawdown), str(tmp))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp))
    clock = ReplayClock()
    ts = [t * 1_000_000 for t in case.ts_ms]
    source = ReplaySource("BTC/USDT", [(ts, case.price, [0.1] * len(ts))], clock, batch_ticks)
    daemon = Daemon(cfg, strategy, clock=clock, source=source)
    if exhaustive:  # the definition: every tick a stop, every mark shown to the breakers
        daemon.walk = MarketWalk(daemon.inventory, daemon.supervisor.breakers, daemon.broker,
                                 clock, exhaustive=True)  # type: ignore[arg-type]
    booked = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    latch = daemon.supervisor.latch
    return Outcome([(f.side, f.qty, f.price, f.fee_quote, f.ts_ns) for f in booked],
                   daemon.inventory.equity(),
                   (latch.halted, latch.halt_reason, latch.halt_detail, latch.halted_ns))


def walk_prices(seed: int, n: int, vol: float) -> tuple[list[int], list[float]]:
    """A random walk from shortly before a UTC midnight, in ms, with same-ms prints and gaps."""
    rng = random.Random(seed)
    t, x = 19_700 * DAY_MS - 30_000, math.log(30_000.0)
    ts, price = [], []
    for _ in range(n):
        t += rng.choice((0, 0, 1, 7, 250, 1000, 3000, 40_000))
        x += rng.gauss(0.0, vol)
        ts.append(t)
        price.append(round(math.exp(x), 2))
    return ts, price


cases = st.builds(
    lambda seed, n, vol, interval, scale, offset, daily, dd: Case(
        *walk_prices(seed, n, vol), interval, scale, offset, daily, dd),
    st.integers(0, 2**32), st.integers(50, 600), st.sampled_from((0.0005, 0.002, 0.01)),
    st.sampled_from((1, 5, 60)), st.sampled_from(("0.3", "1", "4")),
    st.sampled_from(("0", "0", "0.0005", "0.003")), st.sampled_from(("20", "300", "100000")),
    st.sampled_from((2, 10, 50)))


@settings(max_examples=25)
@given(case=cases, batch=st.integers(2, 700))
def test_replay_fills_equity_and_halts_do_not_depend_on_the_batch_size(
        case: Case, batch: int, tmp_path_factory: Any) -> None:
    tmp = tmp_path_factory.mktemp("lookahead")
    want = run_replay(case, 1, tmp / "exhaustive", exhaustive=True)
    for size in (1, batch, 100_000):
        got = run_replay(case, size, tmp / f"b{size}")
        assert got.halt == want.halt, f"batch {size}"
        assert got.fills == want.fills, f"batch {size}"
        assert got.equity == want.equity, f"batch {size}"
