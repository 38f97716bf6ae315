"""Strategies that misbehave on purpose, for the risk system tests (loaded by import path)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

import msgspec

from daemon.book.inventory import InventoryView
from daemon.model import Bar, OrderIntent, OrderType, Side, TickBatch, to_decimal_price
from strategies.base import SingleInstrumentStrategy, Strategy, StrategyContext


class OverTraderParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbols: list[str]
    intents_per_batch: int = 24
    # Both instruments' batches arrive together and the first takes the one token refilled in
    # between: skipping batches at random lets every instrument reach the throttle.
    emit_probability: float = 0.5
    bar_interval_s: int = 1
    seed: int = 7


class OverTrader(Strategy[OverTraderParams]):
    """Everything a strategy gone wrong might send, hundreds of times a second: sizes far over
    every limit, fat-finger prices, the same order twice, reduce-only flips, dust, and enough
    sensible orders (market, marketable and resting limits) to meet the throttles and the
    exposure limits. Tags name what each intent tries, so a test can tell which ones must
    never reach the broker."""

    Params = OverTraderParams

    def __init__(self, params: OverTraderParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._rng = random.Random(params.seed)

    @property
    def bar_interval_ns(self) -> int:
        return self.params.bar_interval_s * 1_000_000_000

    @property
    def symbols(self) -> Sequence[str]:
        return self.params.symbols

    def on_ticks(self, batch: TickBatch, view: InventoryView) -> Sequence[OrderIntent]:
        if batch.symbol not in self.params.symbols or not batch.price:
            return ()
        if self._rng.random() >= self.params.emit_probability:
            return ()
        symbol = batch.symbol
        inst = self.ctx.instruments[symbol]
        last = to_decimal_price(batch.price[-1])
        # Sizes are whole lots of 100 size increments (0.001 BTC, 60 USDT): any sum of fills is
        # then 0 or above the venue's min notional, so the stop can always close what is left.
        # (A residual below min notional cannot be closed by any single order.)
        lot = inst.size_increment * 100

        def lots(notional: int) -> Decimal:
            return max(lot, (Decimal(notional) / last / lot).to_integral_value(ROUND_FLOOR) * lot)

        out: list[OrderIntent] = []
        for k in range(self.params.intents_per_batch):
            side = Side.BUY if self._rng.random() < 0.55 else Side.SELL
            kind = k % 6
            if kind == 0:
                out.append(OrderIntent(symbol, side, inst.max_qty, tag="huge"))
            elif kind == 1:  # just under one order's limit, again and again: position limits
                out.append(OrderIntent(symbol, side, lots(480), tag="size"))
            elif kind == 2:
                far = last * (Decimal(2) if self._rng.random() < 0.5 else Decimal("0.5"))
                out.append(OrderIntent(symbol, side, lots(100), OrderType.LIMIT, far,
                                       tag="fat_finger"))
            elif kind == 3:  # a marketable limit, sent twice: the twin meets it working
                price = inst.limit_price(last * (1 + side.sign * Decimal("0.0005")), side)
                twice = OrderIntent(symbol, side, lots(300), OrderType.LIMIT, price,
                                    tag="twice")
                out += [twice, twice]
                if not view.has_working_orders(symbol):  # and one resting order at a time
                    away = inst.limit_price(last * (1 - side.sign * Decimal("0.002")), side)
                    out.append(OrderIntent(symbol, side, lots(200), OrderType.LIMIT, away,
                                           tag="rest"))
            elif kind == 4:
                if held := view.position(symbol):
                    out.append(OrderIntent(symbol, Side.of(-held), abs(held) * 2,
                                           reduce_only=True, tag="flip"))
            else:
                out.append(OrderIntent(symbol, side, inst.size_increment, tag="dust"))
        return out


class PulseParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    bar_interval_s: int = 1


class Pulse(SingleInstrumentStrategy[PulseParams]):
    """Every bar: buy `qty` when flat, sell the position when not. An order a second."""

    Params = PulseParams

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        if view.has_working_orders(bar.symbol):
            return ()
        held = view.position(bar.symbol)
        if held:
            return (OrderIntent(bar.symbol, Side.of(-held), abs(held), tag="close"),)
        return (OrderIntent(bar.symbol, Side.BUY, self.params.qty, tag="open"),)
