"""Strategies that manage their own orders, for the strategy-API tests: real plugins, loaded by
import path like any other."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.strategy_view import StrategyView, WorkingOrder
from daemon.model import (
    Action,
    Bar,
    Cancel,
    Fill,
    OrderIntent,
    OrderType,
    Replace,
    Side,
    TimeInForce,
)
from daemon.ops import log
from strategies.base import OrderEvent, SingleInstrumentStrategy, StrategyContext

_log = log.get("strategy")


class ScriptParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal = Decimal(1)
    bar_interval_s: int = 1
    foreign_id: str = "td-elsewhere-1"  # an order id the strategy tries to cancel, not its own


class OrderScript(SingleInstrumentStrategy[ScriptParams]):
    """A fixed script of order actions by bar, each from the close `c` of its bar:
    1: post-only buy at c - 1 ("p1"), post-only buy at c + 1 ("p2": crosses, rejected), limit
       sell at c + 4 ("s1");
    2: replace p1 by a post-only buy at c - 2 ("p1b");
    3: cancel s1, cancel `foreign_id` (refused), IOC buy at c - 5 ("ioc": expires).
    Every `on_order` / `on_fill` it is shown is recorded in `seen` as (kind, tag, detail), and
    its own working orders at each bar in `orders`."""

    Params = ScriptParams

    def __init__(self, params: ScriptParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.bars = 0
        self.seen: list[tuple[str, str, str]] = []
        self.orders: list[list[WorkingOrder]] = []

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        self.bars += 1
        own = view.own_orders(self.params.symbol)
        self.orders.append(own)
        c = Decimal(repr(bar.close))
        by_tag = {o.tag: o.client_order_id for o in own}
        if self.bars == 1:
            return (self._limit(Side.BUY, c - 1, "p1", TimeInForce.POST_ONLY),
                    self._limit(Side.BUY, c + 1, "p2", TimeInForce.POST_ONLY),
                    self._limit(Side.SELL, c + 4, "s1"))
        if self.bars == 2 and "p1" in by_tag:
            return (Replace(by_tag["p1"], self._limit(Side.BUY, c - 2, "p1b",
                                                      TimeInForce.POST_ONLY)),)
        if self.bars == 3 and "s1" in by_tag:
            return (Cancel(by_tag["s1"]), Cancel(self.params.foreign_id),
                    self._limit(Side.BUY, c - 5, "ioc", TimeInForce.IOC))
        return ()

    def on_order(self, event: OrderEvent, view: StrategyView) -> Sequence[Action]:
        tag = view.tag_of(event.client_order_id) or "?"
        detail = getattr(event, "reason", "")
        self.seen.append((type(event).__name__, tag, detail))
        return ()

    def on_fill(self, fill: Fill, view: StrategyView) -> Sequence[Action]:
        tag = view.tag_of(fill.client_order_id) or "?"
        self.seen.append(("OrderFilled", tag, f"{fill.side.value} {fill.qty} @ {fill.price}"))
        return ()

    def _limit(self, side: Side, price: Decimal, tag: str,
               tif: TimeInForce = TimeInForce.GTC) -> OrderIntent:
        return OrderIntent(self.params.symbol, side, self.params.qty, OrderType.LIMIT, price,
                           tag=tag, time_in_force=tif)


class TimerParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    interval_s: float = 1.0
    bar_interval_s: int = 3600


class TimerCounter(SingleInstrumentStrategy[TimerParams]):
    """Counts `on_timer` calls and logs each (`timer.fired`)."""

    Params = TimerParams

    def __init__(self, params: TimerParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.fired: list[int] = []

    @property
    def timer_interval_s(self) -> float:
        return self.params.interval_s

    def on_timer(self, now_ns: int, view: StrategyView) -> Sequence[Action]:
        self.fired.append(now_ns)
        _log.info("timer.fired", now_ns=now_ns)
        return ()
