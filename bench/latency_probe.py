"""The latency probe: a bench-only strategy that acts on the first trade of every bar.

Each time a trade opens a new bar (`bar_interval_ms`, default 100 ms) it sends two market
orders at once — buys of `qty` and `2·qty` when it holds nothing, two reduce-only sells of
what it holds when it holds more than `qty` — so every sample has a first order and a second
one from the same decision (the two legs of a flip). It never waits for anything: what
`bench/wire_latency.py` measures is the daemon's own path from a trade on the wire to orders
on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from daemon.book.inventory import InventoryView
from daemon.model import OrderIntent, Side, TickBatch
from strategies.base import Strategy, StrategyContext


class ProbeParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    qty: Decimal
    bar_interval_ms: int = 100


class LatencyProbe(Strategy[ProbeParams]):
    Params = ProbeParams

    def __init__(self, params: ProbeParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._bar = -1

    @property
    def bar_interval_ns(self) -> int:
        return self.params.bar_interval_ms * 1_000_000

    @property
    def symbols(self) -> Sequence[str]:
        return (self.params.symbol,)

    def on_ticks(self, batch: TickBatch, view: InventoryView) -> Sequence[OrderIntent]:
        bar = batch.ts_ns[0] // self.bar_interval_ns
        if bar == self._bar:
            return ()
        self._bar = bar
        symbol, qty = self.params.symbol, self.params.qty
        if view.has_working_orders(symbol):
            return ()
        held = view.closable_qty(symbol)
        # Two legs of different sizes: the gate denies an intent identical to a working order.
        if held > qty:
            return (OrderIntent(symbol, Side.SELL, qty, reduce_only=True, tag="probe"),
                    OrderIntent(symbol, Side.SELL, held - qty, reduce_only=True, tag="probe"))
        if held:
            return (OrderIntent(symbol, Side.SELL, held, reduce_only=True, tag="tidy"),)
        return (OrderIntent(symbol, Side.BUY, qty, tag="probe"),
                OrderIntent(symbol, Side.BUY, qty * 2, tag="probe"))
