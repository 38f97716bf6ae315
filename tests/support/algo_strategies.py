"""Strategies that hand the daemon a parent order (TWAP, POV) once, at their first bar: real
plugins, loaded by import path like any other."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.strategy_view import StrategyView
from daemon.model import Action, Algo, Bar, ParentOrder, Side
from strategies.base import SingleInstrumentStrategy, StrategyContext


class ParentParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    side: Side = Side.BUY
    algo: Algo = Algo.TWAP
    duration_s: float = 100.0
    slices: int = 10
    limit_at_touch: bool = False
    rate: Decimal = Decimal("0.1")
    seed: int = 7
    bar_interval_s: int = 1


class ParentOnce(SingleInstrumentStrategy[ParentParams]):
    """At its first bar, one parent order as its params say; nothing else, ever."""

    Params = ParentParams

    def __init__(self, params: ParentParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.sent = False

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        if self.sent:
            return ()
        self.sent = True
        p = self.params
        return (ParentOrder(p.symbol, p.side, p.qty, p.algo, p.duration_s, p.slices,
                            p.limit_at_touch, p.rate, p.seed),)


class IdleParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    bar_interval_s: int = 1


class Idle(SingleInstrumentStrategy[IdleParams]):
    """Never acts: whatever trades, an operator started (the control API's parent orders)."""

    Params = IdleParams

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        return ()
