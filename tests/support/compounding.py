"""A compounding test strategy: every decision depends on the marks, so any look-ahead in them
(equity, the touch, a breaker) changes what it does. Used by the replay look-ahead tests."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

import msgspec

from daemon.inventory import InventoryView
from daemon.model import Bar, OrderIntent, OrderType, Side
from strategies.base import SingleInstrumentStrategy


class CompounderParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    bar_interval_s: int = 1
    scale: Decimal = Decimal("0.5")  # position = equity / mark x scale
    limit_offset: Decimal = Decimal(0)  # > 0: enter with limits this fraction from the close


class Compounder(SingleInstrumentStrategy[CompounderParams]):
    """Long after an up bar, short after a down one, sized from equity at the mark. With a
    `limit_offset` it enters by a limit below (buys) or above (sells) the close, one at a time,
    so resting orders fill wherever the market reaches them later."""

    Params = CompounderParams

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        p = self.params
        mark = view.mark_price(p.symbol)
        if mark is None or bar.close == bar.open or view.has_working_orders(p.symbol):
            return ()
        inst = view.instrument(p.symbol)
        size = (view.equity() / mark * p.scale / inst.size_increment).to_integral_value(
            ROUND_FLOOR) * inst.size_increment
        want = size if bar.close > bar.open else -size
        delta = want - view.position(p.symbol)
        if not delta or abs(delta) < inst.min_qty:
            return ()
        side = Side.BUY if delta > 0 else Side.SELL
        if not p.limit_offset:
            return (OrderIntent(p.symbol, side, abs(delta), tag="rebalance",
                                bar_close_ns=bar.end_ns),)
        away = -p.limit_offset if side is Side.BUY else p.limit_offset
        limit = inst.round_price(mark * (1 + away), side)
        return (OrderIntent(p.symbol, side, abs(delta), OrderType.LIMIT, limit,
                            tag="rebalance", bar_close_ns=bar.end_ns),)
