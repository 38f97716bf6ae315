"""POV parent orders on the replay clock: the parent's filled volume follows `rate` of the
market's traded volume, which the test adds up itself from the trades it fed the replay."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

from daemon import config
from daemon.clock import ReplayClock
from daemon.model import Side
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.component.test_algos_twap import CONFIG, SYM
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

S = 10**9
RATE = Decimal("0.1")


def test_pov_fills_within_rate_of_the_market_volume_plus_or_minus_one_slice(
        tmp_path: Path) -> None:
    """1. 90 s of trades at 100, one a second, sizes seeded-random in [0.5, 5]; 2. the
    strategy's first bar (at 2 s) starts a POV buy of 50 at rate 0.1 for 60 s (more than
    the volume allows: it ends incomplete); 3. at every fill, and at the end, the parent's
    filled quantity is within 0.1 of the volume traded since it started, plus or minus one
    slice (0.1 of the largest trade, rounded up to the size grid)."""
    rng = random.Random(1)
    sizes = [round(rng.uniform(0.5, 5.0), 3) for _ in range(90)]
    ts = [(k + 1) * S for k in range(90)]
    cfg = config.parse(CONFIG.format(
        params='qty = "50"\nalgo = "pov"\nrate = "0.1"\nduration_s = 60',
        max_position="6000", max_loss="1000", fill_model="touch"), str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    clock = ReplayClock()
    source = ReplaySource(SYM, [(ts, [100.0] * 90, sizes)], clock, batch_ticks=1)
    daemon = paper_daemon(cfg, strategy, clock=clock, source=source)
    fills = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    (parent,) = daemon.algos.status()
    start, end = parent["created_ns"], parent["end_ns"]
    assert parent["state"] == "incomplete" and parent["reason"] == "duration_ended"

    def volume_through(t_ns: int) -> Decimal:
        """Traded after the parent started, up to and including `t_ns`."""
        return sum((Decimal(repr(s)) for t, s in zip(ts, sizes, strict=True)
                    if start < t <= t_ns), Decimal(0))

    one_slice = RATE * Decimal(repr(max(sizes)))
    buys = [f for f in fills if f.side is Side.BUY]
    assert len(buys) > 20
    filled = Decimal(0)
    for fill in buys:
        filled += fill.qty
        target = RATE * volume_through(fill.ts_ns)
        assert abs(filled - target) <= one_slice, (fill.ts_ns, filled, target)
    total = RATE * volume_through(end)
    assert abs(filled - total) <= one_slice, (filled, total)
    assert Decimal(parent["filled"]) == filled
