"""A strategy's own orders through the real gate, router and paper broker on a replay clock:
post-only (resting, and rejected when it would cross), replace, cancel, IOC expiry, a refused
cancel of an order that is not its own, and `on_order` / `on_fill` once per event, in order.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon import config
from daemon.clock import ReplayClock
from daemon.model import (
    Cancel,
    CancelAll,
    OrderIntent,
    OrderState,
    OrderType,
    Side,
    TickBatch,
    TimeInForce,
)
from daemon.risk.gate import ApprovedOrder
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.action_strategies import OrderScript, TimerCounter
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

S = 10**9
SYM = "BTC/USDT"
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "100000"
fill_model = "touch"
fee_bps = 0
slippage_bps = 0
[strategy]
class = "{cls}"
[strategy.params]
symbol = "BTC/USDT"
{params}
[risk]
max_order_notional = "1000"
max_position_notional = "1000"
max_gross_exposure = "5000"
stale_data_s = 3600
"""


def _daemon(tmp: Path, cls: str, params: str, prices: list[float]) -> tuple[Any, Any]:
    cfg = config.parse(CONFIG.format(cls=cls, params=params), str(tmp))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp))
    clock = ReplayClock()
    ts = [(k + 1) * S for k in range(len(prices))]
    source = ReplaySource(SYM, [(ts, prices, [1.0] * len(prices))], clock, batch_ticks=1)
    return paper_daemon(cfg, strategy, clock=clock, source=source), strategy


def test_post_only_replace_cancel_and_events_once_each_in_order(tmp_path: Path) -> None:
    """1. bar 1 (close 100): post-only buy 99 rests, post-only buy 101 would cross and is
    rejected, limit sell 104 rests; 2. bar 2: p1 replaced by a post-only buy at 98; 3. bar 3:
    s1 cancelled, a foreign id's cancel refused, an IOC buy at 95 expires; 4. the price falls
    to 97: p1b fills at its own limit, 98 (a maker fill, not the 97 touch); 5. the replay ends
    and the flatten closes the position: the strategy hears nothing of the flatten's order."""
    prices = [100.0] * 4 + [97.0] * 3
    daemon, strategy = _daemon(tmp_path, "tests.support.action_strategies:OrderScript", "",
                               prices)
    assert isinstance(strategy, OrderScript)
    fills = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    # The paper venue works a decision's orders in the order given: p1, p2, s1.
    assert strategy.seen == [
        ("OrderAccepted", "p1", ""),
        ("OrderRejected", "p2", "post_only_would_cross"),
        ("OrderAccepted", "s1", ""),
        ("OrderCancelled", "p1", ""),
        ("OrderAccepted", "p1b", ""),
        ("OrderCancelled", "s1", ""),
        ("OrderAccepted", "ioc", ""),
        ("OrderCancelled", "ioc", "expired"),
        ("OrderFilled", "p1b", "buy 1 @ 98.0"),
    ], strategy.seen
    # The view at bar 2: p1 and s1 working, as the books hold them; p2 never was.
    at_bar_2 = {o.tag: o for o in strategy.orders[1]}
    assert set(at_bar_2) == {"p1", "s1"}
    p1 = at_bar_2["p1"]
    assert (p1.side, p1.order_type, p1.limit_price, p1.remaining_qty, p1.state,
            p1.time_in_force) == (Side.BUY, OrderType.LIMIT, Decimal(99), Decimal(1),
                                  OrderState.ACCEPTED, TimeInForce.POST_ONLY)
    # Only while p1 was cancelled did p1b exist: never both at once.
    assert all(not ({"p1", "p1b"} <= {o.tag for o in own}) for own in strategy.orders)
    assert daemon.actions.refused_cancels == 1
    buys = [f for f in fills if f.side is Side.BUY]
    assert [(f.qty, f.price) for f in buys] == [(Decimal(1), Decimal(98))]
    assert daemon.inventory.is_flat()


def test_a_strategy_cannot_cancel_the_flattens_order(tmp_path: Path) -> None:
    """1. the daemon's own (flatten) order rests on the paper venue; 2. the strategy's cancel of
    it, and its cancel-all of the symbol, are refused or skip it, and nothing is sent; 3. the
    order is still working."""
    daemon, _ = _daemon(tmp_path, "tests.support.action_strategies:OrderScript", "",
                        [100.0] * 3)

    async def scenario() -> None:
        daemon.inventory.mark(SYM, 100.0, 1)
        daemon.inventory.quote(SYM, 100.0, 100.0)
        await daemon.broker.on_market(_batch())
        runner = asyncio.create_task(daemon.broker.run())
        try:
            close = OrderIntent(SYM, Side.BUY, Decimal(1), OrderType.LIMIT, Decimal(99),
                                tag="flatten")
            decision = await daemon.router.route(close, flatten=True)
            assert isinstance(decision, ApprovedOrder), decision
            await daemon.broker.settled()
            coid = decision.client_order_id
            assert [o.client_order_id for o in daemon.inventory.working_orders()] == [coid]
            await daemon.actions.run([Cancel(coid), CancelAll(SYM)])
            await daemon.broker.settled()
            assert [o.client_order_id for o in daemon.inventory.working_orders()] == [coid]
            assert daemon.actions.refused_cancels == 1
        finally:
            runner.cancel()

    asyncio.run(scenario())


def _batch() -> TickBatch:
    return TickBatch(SYM, [1], [100.0], [1.0], 100.0, 100.0, 1)


def test_on_timer_fires_at_its_interval_on_the_replay_clock(tmp_path: Path) -> None:
    daemon, strategy = _daemon(tmp_path, "tests.support.action_strategies:TimerCounter",
                               "interval_s = 2.0", [100.0] * 11)
    assert isinstance(strategy, TimerCounter)
    assert asyncio.run(daemon.run()) == 0
    gaps = [b - a for a, b in itertools.pairwise(strategy.fired)]
    assert len(strategy.fired) >= 4  # 11 s of data, every 2 s after the first look
    assert all(g >= 2 * S for g in gaps), gaps
