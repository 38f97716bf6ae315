"""The signal engine: turns tick batches into bars and the strategy's decisions into intents.

One bar aggregator per traded instrument; bars close on the first tick of a later interval or
when the clock passes the interval's end, whichever comes first, so a quiet market still closes
bars on time.

A batch may hold many bars. `next_close` says at which tick the next bar closes and `read` stops
right after it, so the caller can bring the books to that tick first and hand the strategy's
decision on before reading further: the next decision sees its outcome and the orders go out as
of that tick, as if trades had arrived one by one.

The strategy's own order events (`on_event`, from the fills task and the router) and its timer
wait in the same queue as closed bars, in the order they happened, and are shown to it by
`drain` the same way: each look that makes it act is one decision. Only a strategy that
overrides `on_fill` / `on_order` / `on_timer` is ever shown them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from daemon.book.inventory import InventoryView
from daemon.book.strategy_view import OwnedOrders, StrategyView
from daemon.clock import Clock
from daemon.events import (
    BrokerEvent,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from daemon.features import BarAggregator
from daemon.model import Action, Bar, Decision, TickBatch
from strategies.base import Strategy

# A trade-less batch that only wakes the signal task: a strategy event arrived while it idled.
WAKE = TickBatch("", (), (), (), 0.0, 0.0, 0)


class SignalEngine:
    def __init__(self, strategy: Strategy[Any], view: InventoryView, clock: Clock,
                 owned: OwnedOrders | None = None) -> None:
        """`view`: the strategy's (with `owned`, its orders); a plain inventory view is
        widened to one that owns nothing."""
        if not isinstance(view, StrategyView):
            owned = owned or OwnedOrders(view._inv)
            view = StrategyView(view._inv, owned)
        self._strategy = strategy
        self._view: StrategyView = view
        self._clock = clock
        interval = strategy.bar_interval_ns
        self._bars = {s: BarAggregator(s, interval) for s in strategy.symbols}
        # Closed bars the strategy has not seen yet: one tick can close several (a gap in the
        # data), and each must see what the previous one's orders did. `None` in place of a
        # bar: order events or the timer are due (`_events`, `_timer_due`).
        self._pending: deque[tuple[Bar | None, int]] = deque()
        self.bars_closed = 0
        self.run_low = math.inf
        self.run_high = -math.inf
        self._owned = owned
        self._wants_fills = strategy.overrides("on_fill")
        self._wants_orders = strategy.overrides("on_order")
        # (event, the order's end)
        self._events: deque[tuple[OrderFilled | OrderAccepted | OrderRejected | OrderCancelled,
                                  bool]] = deque()
        timer_s = strategy.timer_interval_s if strategy.overrides("on_timer") else 0.0
        self._timer_ns = int(max(timer_s, 0.0) * 1e9)
        self._next_timer_ns = 0
        self._timer_due = False
        self.wake: Callable[[], None] | None = None  # set by the app: rouse an idle signal task

    @property
    def strategy(self) -> Strategy[Any]:
        return self._strategy

    @property
    def interval_ns(self) -> int:
        return self._strategy.bar_interval_ns

    @property
    def pending(self) -> bool:
        """Closed bars wait for the strategy: hand the last decision on, then call `drain`."""
        return bool(self._pending)

    def next_close(self, batch: TickBatch, start: int, end: int) -> int:
        """The first tick in [start, end) that closes a bar of the batch's instrument, or `end`.
        The caller brings the books to that tick before `read` shows the bar to the strategy."""
        agg = self._bars.get(batch.symbol)
        return end if agg is None else agg.next_close(batch.ts_ns, start, end)

    def read(self, batch: TickBatch, start: int, end: int) -> int:
        """Read ticks [start, end) into the open bars until one closes bars; those wait in
        `pending` for `drain`. Returns the index after that tick, or `end`. `run_low` and
        `run_high` are then the price range read (low > high: none, or not a traded symbol)."""
        agg = self._bars.get(batch.symbol)
        if agg is None:
            self.run_low, self.run_high = math.inf, -math.inf
            return end
        if start == 0 and batch.gap_before:
            agg.mark_gap()
        bars, pos = agg.on_columns(batch.ts_ns, batch.price, batch.size, start, end)
        self.run_low, self.run_high = agg.run_low, agg.run_high
        if bars is not None:
            self._closed(bars)
        return pos

    def after_batch(self, batch: TickBatch) -> Decision | None:
        """Once every tick is read: the strategy's look at the whole batch (no bar behind it,
        so no bar-to-order latency). Then hand it on and call `on_time` with the batch's time."""
        actions = self._strategy.on_ticks(batch, self._view)
        return Decision.of(actions) if actions else None

    def on_time(self, now_ns: int) -> Decision | None:
        for agg in self._bars.values():
            bars = agg.on_time(now_ns)
            if bars is not None:
                self._closed(bars)
        if self._timer_ns and now_ns >= self._next_timer_ns:
            if self._next_timer_ns:  # the first call only starts the timer
                self._timer_due = True
                self._pending.append((None, 0))
            self._next_timer_ns = now_ns + self._timer_ns
        return self.drain()

    def drain(self) -> Decision | None:
        """Show the strategy pending bars (and due events and timers) until one makes it act;
        return that decision."""
        pending = self._pending
        while pending:
            bar, closed_mono_ns = pending.popleft()
            if bar is None:
                actions = self._callbacks()
                if actions:
                    return Decision.of(actions)
                continue
            self.bars_closed += 1
            intents = self._strategy.on_bar(bar, self._view)
            if intents:
                return Decision.of(intents, closed_mono_ns)
        return None

    def warm_up(self, bars: Sequence[Bar]) -> None:
        """History from before the start (oldest first), shown to the strategy's `warm_up`."""
        for bar in bars:
            self._strategy.warm_up(bar)

    def on_event(self, event: BrokerEvent) -> None:
        """A broker event, once booked (the fills task, the router's own rejections). Events of
        the strategy's orders wait for `drain`; an order's end drops it from the owned set."""
        owned = self._owned
        if owned is None:
            return
        if isinstance(event, OrderFilled):
            filled, coid = True, event.fill.client_order_id
        elif isinstance(event, OrderAccepted | OrderRejected | OrderCancelled):
            filled, coid = False, event.client_order_id
        else:
            return  # a swap's funding or mark: not an order's event
        if coid not in owned and not (filled and owned.ended(coid)):
            return  # not the strategy's; or, after its end, anything but a late fill
        ended = not self._view.is_working(coid)
        if not (self._wants_fills if filled else self._wants_orders):
            if ended:
                owned.discard(coid)
            return
        if not self._events:
            self._pending.append((None, 0))
            if self.wake is not None:
                self.wake()
        self._events.append((event, ended))

    def _callbacks(self) -> list[Action]:
        actions: list[Action] = []
        strategy, view = self._strategy, self._view
        if self._timer_due:
            self._timer_due = False
            actions.extend(strategy.on_timer(self._clock.now_ns(), view))
        events = self._events
        while events:
            event, ended = events.popleft()
            if isinstance(event, OrderFilled):
                actions.extend(strategy.on_fill(event.fill, view))
                coid = event.fill.client_order_id
            else:
                actions.extend(strategy.on_order(event, view))
                coid = event.client_order_id
            if ended and self._owned is not None:
                self._owned.discard(coid)  # shown its end: the strategy is done with it
        return actions

    def _closed(self, bars: Sequence[Bar]) -> None:
        # Stamped once the bar is closed, before the strategy runs: the bar-to-order latency
        # covers the strategy, the gate and the hand-off to the broker.
        closed_mono_ns = self._clock.monotonic_ns()
        self._pending.extend((bar, closed_mono_ns) for bar in bars)
