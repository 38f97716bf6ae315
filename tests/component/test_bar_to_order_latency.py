"""The bar-to-order latency histogram: one observation per order a closed bar caused, taken from
when the daemon closed that bar to the order's hand-over; none for orders with no bar behind
them (a look at a whole batch, the shutdown's flatten)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from daemon import config
from daemon.app import Daemon
from daemon.book.inventory import InventoryView
from daemon.clock import ReplayClock
from daemon.model import Bar, OrderIntent
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.in_process import paper_daemon
from tests.support.strategies import Alternate, AlternateParams

S = 10**9
HISTOGRAM = "tradingd_bar_to_order_latency_seconds"
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "100000"
fee_bps = 0
slippage_bps = 0
[strategy]
class = "tests.support.strategies:BuyOnce"
[strategy.params]
symbol = "BTC/USDT"
qty = "0.1"
from_ticks = true
[risk]
max_order_notional = "1000"
max_position_notional = "1000"
max_gross_exposure = "1000"
"""


class CountingAlternate(Alternate):
    """Alternate, counting the intents its bars produced."""

    def __init__(self, params: AlternateParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.intents = 0

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        intents = super().on_bar(bar, view)
        self.intents += len(intents)
        return intents


def _replay(tmp_path: Path, strategy: object, ticks: int) -> Daemon:
    cfg = config.parse(CONFIG, str(tmp_path))
    clock = ReplayClock()
    ts = [(i + 1) * S for i in range(ticks)]
    source = ReplaySource("BTC/USDT", [(ts, [100.0] * ticks, [1.0] * ticks)], clock,
                          batch_ticks=4)
    daemon = paper_daemon(cfg, strategy, clock=clock, source=source)  # type: ignore[arg-type]
    assert asyncio.run(daemon.run()) == 0
    return daemon


def _sample(daemon: Daemon, name: str, labels: dict[str, str] | None = None) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def test_every_order_a_bar_caused_is_timed_from_that_bar(tmp_path: Path) -> None:
    cfg = config.parse(CONFIG, str(tmp_path))
    strategy = CountingAlternate(AlternateParams("BTC/USDT", Decimal("0.1")),
                                 StrategyContext(instruments_from_config(cfg), tmp_path))
    daemon = _replay(tmp_path, strategy, ticks=13)
    submitted = _sample(daemon, "tradingd_orders_total", {"outcome": "submitted"})
    assert strategy.intents >= 4
    # The flatten may add a closing order: it has no bar behind it.
    assert submitted in (strategy.intents, strategy.intents + 1)
    assert _sample(daemon, HISTOGRAM + "_count") == strategy.intents
    assert _sample(daemon, HISTOGRAM + "_sum") > 0


def test_an_order_from_a_whole_batch_is_not_timed(tmp_path: Path) -> None:
    cfg = config.parse(CONFIG, str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    daemon = _replay(tmp_path, strategy, ticks=6)
    assert _sample(daemon, "tradingd_orders_total", {"outcome": "submitted"}) >= 1
    assert _sample(daemon, HISTOGRAM + "_count") == 0
