"""Strategies used by system tests: real plugins, loaded by import path like any other."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.inventory import InventoryView
from daemon.model import Bar, BookSnapshot, OrderIntent, OrderType, Side, TickBatch
from daemon.ops import log
from strategies.base import SingleInstrumentStrategy, StrategyContext

_log = log.get("strategy")


class BuyOnceParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    bar_interval_s: int = 1
    crash_after_fill: bool = False
    from_ticks: bool = False  # buy from the first look at a whole batch, not from a bar


class BuyOnce(SingleInstrumentStrategy[BuyOnceParams]):
    """Buys `qty` at the first bar (or batch, `from_ticks`) and holds; optionally raises once
    the position exists."""

    Params = BuyOnceParams

    def __init__(self, params: BuyOnceParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._sent = False

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        if self.params.crash_after_fill and view.position(self.params.symbol) != 0:
            raise RuntimeError("test strategy crashing on purpose")
        if self._sent or self.params.from_ticks:
            return ()
        self._sent = True
        return (OrderIntent(self.params.symbol, Side.BUY, self.params.qty, tag="open",
                            bar_close_ns=bar.end_ns),)

    def on_ticks(self, batch: TickBatch, view: InventoryView) -> Sequence[OrderIntent]:
        if self._sent or not self.params.from_ticks:
            return ()
        self._sent = True
        return (OrderIntent(self.params.symbol, Side.BUY, self.params.qty, tag="open"),)


class NotAStrategy:
    pass


class AlternateParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    bar_interval_s: int = 1


class Alternate(SingleInstrumentStrategy[AlternateParams]):
    """Buys `qty` on one bar and sells what it holds on the next: an order every bar, so a
    test's injected faults always meet live orders."""

    Params = AlternateParams

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        symbol = self.params.symbol
        if view.has_working_orders(symbol):
            return ()
        held = view.closable_qty(symbol)
        if held:
            return (OrderIntent(symbol, Side.SELL, held, reduce_only=True, tag="close",
                                bar_close_ns=bar.end_ns),)
        return (OrderIntent(symbol, Side.BUY, self.params.qty, tag="open",
                            bar_close_ns=bar.end_ns),)


class TwoLegs(SingleInstrumentStrategy[AlternateParams]):
    """Alternate in two orders a bar — buys of `qty` and `2·qty`, then two sells of what it
    holds — so every decision's orders go out side by side (the router's concurrent path)."""

    Params = AlternateParams

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        symbol, qty = self.params.symbol, self.params.qty
        if view.has_working_orders(symbol):
            return ()
        held = view.closable_qty(symbol)
        if held > qty:
            return (OrderIntent(symbol, Side.SELL, qty, reduce_only=True, tag="close",
                                bar_close_ns=bar.end_ns),
                    OrderIntent(symbol, Side.SELL, held - qty, reduce_only=True, tag="close",
                                bar_close_ns=bar.end_ns))
        if held:
            return (OrderIntent(symbol, Side.SELL, held, reduce_only=True, tag="close",
                                bar_close_ns=bar.end_ns),)
        return (OrderIntent(symbol, Side.BUY, qty, tag="open", bar_close_ns=bar.end_ns),
                OrderIntent(symbol, Side.BUY, qty * 2, tag="open", bar_close_ns=bar.end_ns))


class RestingBuysParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    count: int = 3
    below_bps: int = 200  # the first limit this far under the close, each next 75 bps lower:
    # all inside the risk gate's default 500 bps price collar
    bar_interval_s: int = 1


class RestingBuys(SingleInstrumentStrategy[RestingBuysParams]):
    """On its first bar, rests `count` limit buys well under the market, then waits: orders
    that only an operator (or the test) fills or cancels."""

    Params = RestingBuysParams

    def __init__(self, params: RestingBuysParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._sent = False

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        if self._sent:
            return ()
        self._sent = True
        p = self.params
        return tuple(
            OrderIntent(p.symbol, Side.BUY, p.qty, OrderType.LIMIT,
                        Decimal(repr(bar.close)) * (1 - Decimal(p.below_bps + 75 * n) / 10_000),
                        tag="rest")
            for n in range(p.count))


class BookWatcherParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    depth: int = 5
    bar_interval_s: int = 1


class BookWatcher(SingleInstrumentStrategy[BookWatcherParams]):
    """Asks for `depth` levels of the order book and logs each new one it is shown
    (`book.seen`, levels as strings); never trades."""

    Params = BookWatcherParams

    def __init__(self, params: BookWatcherParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._last: BookSnapshot | None = None

    @property
    def book_depth(self) -> int:
        return self.params.depth

    def on_ticks(self, batch: TickBatch, view: InventoryView) -> Sequence[OrderIntent]:
        book = batch.book
        if book is not None and (self._last is None or (book.bids, book.asks) != (
                self._last.bids, self._last.asks)):
            self._last = book
            _log.info("book.seen", symbol=batch.symbol,
                      bids=[[repr(p), repr(q)] for p, q in book.bids],
                      asks=[[repr(p), repr(q)] for p, q in book.asks])
        return ()

