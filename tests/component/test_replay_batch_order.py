"""A replay: orders decided on a batch as a whole (`Strategy.on_ticks`) are checked and filled
against that batch's market, before the replay moves on to the next batch.

The next batch is only read once time has reached the end of this one; waking it before this
batch's own orders went out let it move the marks under them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from daemon import config
from daemon.clock import ReplayClock
from daemon.model import Side
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

S = 10**9
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "100000"
fill_model = "touch"
fee_bps = 0
slippage_bps = 0
[strategy]
class = "tests.support.strategies:BuyOnce"
[strategy.params]
symbol = "BTC/USDT"
qty = "1"
bar_interval_s = 3600
from_ticks = true
[risk]
max_order_notional = "150"
max_position_notional = "1000"
max_gross_exposure = "1000"
"""


def test_an_order_decided_on_a_batch_meets_that_batch_not_the_next(tmp_path: Path) -> None:
    # 1 BTC is 100 USDT in the first batch and 200 in the second: only at the first batch's
    # price does it fit under max_order_notional = 150.
    ts = [1 * S, 2 * S, 3 * S, 4 * S, 5 * S, 6 * S]
    price = [100.0, 100.0, 100.0, 200.0, 200.0, 200.0]
    cfg = config.parse(CONFIG, str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    clock = ReplayClock()
    source = ReplaySource("BTC/USDT", [(ts, price, [1.0] * 6)], clock, batch_ticks=3)
    daemon = paper_daemon(cfg, strategy, clock=clock, source=source)
    booked = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    first = booked[0]
    assert (first.side, first.qty, first.price) == (Side.BUY, Decimal(1), Decimal("100.0"))
    assert first.ts_ns == 3 * S + 1  # at the first batch's receipt
    denied = daemon.metrics.registry.get_sample_value(
        "tradingd_risk_denials_total", {"reason": "max_order_notional"})
    assert denied == 0
