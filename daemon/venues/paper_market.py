"""The market fill model: the paper broker as a venue with a queue and a latency would treat its
orders (`[paper] fill_model = "market"`, the default). Every figure is a `[paper]` key
(`daemon.config_paper`); the model's assumptions, in the order an order meets them:

- **Latency.** An order (and a cancel) reaches the venue `latency_ms` of market time after it
  was sent, and is worked from the first trade at or after that time, never the trade that
  triggered it: in a replay that is a later tick. Until a cancel arrives the order can fill.
- **Acceptance.** At arrival a post-only order that would cross is rejected; the others are
  accepted. A market order, or a limit that crosses the touch, takes liquidity (a taker); a
  limit that does not cross rests (a maker).
- **Takers** take at most `max_participation` of the volume traded since they arrived (the
  arrival trade included), so a large order fills across trades. Each piece pays the touch
  moved against it by `impact_bps * sqrt(qty / V)`, V the volume traded in the
  `volume_window_s` before arrival (when no trade falls in it, as with candles, the volume since
  the trade before scaled to the window; `max_slippage_bps` at most, and with no trade seen); with
  an order book in the data the piece walks the book instead. A limit taker never pays past its
  limit and rests, first in its queue, once the touch leaves it. IOC keeps what the arrival
  trade gave and expires the rest; FOK fills whole at the arrival trade or expires.
- **Makers** fill at their own price, partially, by the traded quantity: at once when a trade
  goes through the price; at the price only after the queue ahead has traded, the queue being
  taken as the volume traded in the `queue_ahead_s` before the order joined (measured as V is).
- **Fees** are `maker_fee_bps` or `taker_fee_bps` by how each piece filled.
- **The end of the data** (a replay's stop): no later trade comes, so what is sent then fills
  whole at the last trade with the size-dependent slippage: the flatten's estimate. A breaker's
  flatten in a replay is filled the same way at the trade that tripped it (the walk waits for
  it, so a replay's halt does not depend on the batch size).

On a replay clock the market walk stops where `first_cross` says something can happen (an
arrival, a cancel, a working taker, a trade that reaches a maker) and `match_resting` works that
trade; live, every trade of a batch is worked as it comes. `stats` adds up what the fills cost
against the mid at the moment each order was sent: the slippage a backtest reports.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from decimal import Decimal

from daemon.clock import Clock
from daemon.config_paper import PaperConfig
from daemon.events import BrokerEvent, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.model import (
    BookSnapshot,
    Fill,
    Instrument,
    OrderType,
    Side,
    TickBatch,
    TimeInForce,
    to_decimal_price,
)
from daemon.risk.gate import ApprovedOrder
from daemon.venues.paper import (
    BPS,
    PaperBroker,
    _crosses,
    _first_outside,
    _slack,
    touch_at,
)
from daemon.venues.paper_margin import PaperMargin
from daemon.venues.paper_stats import ExecutionStats

ZERO = Decimal(0)
ONE = Decimal(1)


class _Working:
    """One order as the simulated venue holds it."""

    def __init__(self, order: ApprovedOrder, arrive_ns: int, mid: Decimal) -> None:
        self.order = order
        self.arrive_ns = arrive_ns
        self.mid = mid  # when it was sent: what its fills' slippage is measured from
        self.cancel_ns = -1  # when a cancel reaches the venue
        self.remaining = order.qty
        self.live = False  # arrived and accepted
        self.taking = False
        self.slip = ONE  # a taker's adverse price factor
        self.seen = ZERO  # volume traded since it arrived
        self.taken = ZERO  # of which it took
        self.queue = ZERO  # a maker's volume ahead at its price
        self.arrival = True  # the next trade it meets is its arrival trade
        limit = order.limit_price
        self.limit_f = 0.0 if limit is None else float(limit)


class _Tape:
    """The recent trades of one instrument, for the volume over a window before a time."""

    def __init__(self, keep_ns: int) -> None:
        self._keep_ns = keep_ns
        self._batches: deque[TickBatch] = deque()

    def add(self, batch: TickBatch) -> None:
        batches = self._batches
        if batches and batches[-1] is batch:
            return
        batches.append(batch)
        if batch.ts_ns:
            # Keep every trade since the horizon and the last one before it (sparse data).
            horizon = batch.ts_ns[0] - self._keep_ns
            while len(batches) > 1 and (not batches[0].ts_ns or (
                    batches[1].ts_ns and batches[1].ts_ns[-1] < horizon)):
                batches.popleft()

    def before(self, batch: TickBatch) -> TickBatch | None:
        """The batch that came before `batch`, if kept and not empty."""
        batches = self._batches
        for k in range(len(batches) - 1, 0, -1):
            if batches[k] is batch:
                prev = batches[k - 1]
                return prev if prev.ts_ns else None
        return None

    def last_before(self, until_ns: int) -> int | None:
        """The time of the last trade before `until_ns`, if kept."""
        for b in reversed(self._batches):
            k = bisect_left(b.ts_ns, until_ns)
            if k:
                return b.ts_ns[k - 1]
        return None

    def volume(self, since_ns: int, until_ns: int) -> float:
        """Traded in [since_ns, until_ns)."""
        total = 0.0
        for b in self._batches:
            ts = b.ts_ns
            if not ts or ts[-1] < since_ns or ts[0] >= until_ns:
                continue
            total += sum(b.size[bisect_left(ts, since_ns):bisect_left(ts, until_ns)])
        return total


class MarketPaperBroker(PaperBroker):
    def __init__(self, instruments: dict[str, Instrument], cfg: PaperConfig,
                 clock: Clock, margin: PaperMargin | None = None) -> None:
        super().__init__(instruments, cfg.taker_fee, cfg.slippage_bps, clock, margin)
        self._maker_fee = cfg.maker_fee / BPS
        self._taker_fee = cfg.taker_fee / BPS
        self._latency_ns = int(cfg.latency_ms * 1e6)
        self._cap = cfg.max_participation
        self._impact_bps = float(cfg.impact_bps)
        self._max_slip_bps = float(cfg.max_slippage_bps)
        self._window_ns = int(cfg.volume_window_s * 1e9)
        self._queue_ns = int(cfg.queue_ahead_s * 1e9)
        self._working: dict[str, _Working] = {}  # by client id, in the order they were sent
        self._tapes: dict[str, _Tape] = {}
        self._worked: dict[str, tuple[TickBatch, int]] = {}  # the last trade worked per symbol
        self._ended = False  # no later trade will come
        self._here = False  # a replay's breaker flatten: work what is sent at this tick
        self.stats = ExecutionStats()

    # --- requests: taken at once, at the venue `latency_ms` later -------------------------

    async def _execute(self, order: ApprovedOrder) -> None:
        now = self._clock.now_ns()
        touch = self._touch_at(order.symbol)
        if touch is None:
            await self._emit(OrderRejected(order.client_order_id, "no_market",
                                           "no quote yet for " + order.symbol, now))
            return
        if self.margin is not None and (why := self.margin.refuse(order, touch)) is not None:
            await self._emit(OrderRejected(order.client_order_id, "insufficient_margin", why, now))
            return
        mid = (touch[0] + touch[1]) / 2
        self._working[order.client_order_id] = _Working(order, now + self._latency_ns, mid)
        if self._ended or self._here:
            await self._work_here(order.symbol)

    async def _cancel(self, client_order_id: str) -> None:
        working = self._working.get(client_order_id)
        if working is None:
            return  # filled or ended already: its events say so
        if working.cancel_ns < 0:
            working.cancel_ns = self._clock.now_ns() + self._latency_ns
        if self._ended or self._here:
            await self._work_here(working.order.symbol)

    # --- the market ------------------------------------------------------------------------

    async def on_market(self, batch: TickBatch) -> None:
        await super().on_market(batch)
        symbol = batch.symbol
        tape = self._tapes.get(symbol)
        if tape is None:
            tape = self._tapes[symbol] = _Tape(max(self._window_ns, self._queue_ns))
        tape.add(batch)
        if not self._stepped and self.has_resting(symbol):
            for i in range(len(batch.ts_ns)):
                await self._work_trade(batch, i)

    async def market_ended(self) -> None:
        self._ended = True
        for symbol in {w.order.symbol for w in self._working.values()}:
            await self._work_here(symbol)

    async def fill_here(self, on: bool) -> None:
        self._here = on
        if on:
            for symbol in {w.order.symbol for w in self._working.values()}:
                await self._work_here(symbol)

    def has_resting(self, symbol: str) -> bool:
        if self.margin is not None and self.margin.pending:
            return True  # funding or a liquidation to report: `match_resting` does
        if not self._working:
            return False
        return any(w.order.symbol == symbol for w in self._working.values())

    async def match_resting(self, symbol: str) -> None:
        """Work the trade the replay stands at (once)."""
        if self.margin is not None and self.margin.pending:
            await self._report_margin()
        batch = self._last_batch.get(symbol)
        cursor = self._cursor.get(symbol, -1)
        if batch is None or cursor < 0:
            return
        done = self._worked.get(symbol)
        if done is not None and done[0] is batch and done[1] == cursor:
            return
        self._worked[symbol] = (batch, cursor)
        await self._work_trade(batch, cursor)

    def first_cross(self, batch: TickBatch, lo: int, hi: int, low: float, high: float) -> int:
        """The first trade in [lo, hi) where an order of `batch`'s symbol may arrive, be
        cancelled, take, or be reached by the price; `hi` if none."""
        if self.margin is not None:  # swaps: funding and liquidation are stops too
            hi = self.margin.first_stop(batch, lo, hi, low, high)
        if not self._working or lo >= hi:
            return hi
        symbol, ts = batch.symbol, batch.ts_ns
        stop = hi
        buy = -math.inf
        sell = math.inf
        for w in self._working.values():
            if w.order.symbol != symbol:
                continue
            if not w.live:
                stop = min(stop, bisect_left(ts, w.arrive_ns, lo, stop))
                continue
            if w.taking:
                return lo
            if w.cancel_ns >= 0:
                stop = min(stop, bisect_left(ts, w.cancel_ns, lo, stop))
            if w.order.side is Side.BUY:
                buy = max(buy, w.limit_f + _slack(w.limit_f))
            else:
                sell = min(sell, w.limit_f - _slack(w.limit_f))
        if stop <= lo or (low > buy and high < sell):
            return stop
        return lo + _first_outside(batch.price[lo:stop], buy, sell)

    # --- working one trade -------------------------------------------------------------------

    async def _work_trade(self, batch: TickBatch, i: int) -> None:
        ts, price = batch.ts_ns[i], batch.price[i]
        size = Decimal(repr(batch.size[i]))
        touch = touch_at(batch, i)
        free = size  # what the makers ahead of it in our own list left of this trade
        for w in [w for w in self._working.values() if w.order.symbol == batch.symbol]:
            if not w.live:
                if w.arrive_ns > ts or not await self._arrive(w, touch, ts):
                    continue
            if 0 <= w.cancel_ns <= ts:
                await self._finish(w, OrderCancelled(w.order.client_order_id, ts))
            elif w.taking:
                await self._take(w, touch, size, ts, batch.book)
            else:
                free = await self._make(w, price, free, ts)

    async def _work_here(self, symbol: str) -> None:
        """No later trade will be worked (the data ended, or a replay's breaker flatten holds
        the walk): cancels take effect and takers fill whole at the trade the market stands
        at, with their size-dependent slippage."""
        here = self._trade_here(symbol)
        if here is None:
            return
        batch, i = here
        ts = max(batch.ts_ns[i], self._clock.now_ns())
        touch = touch_at(batch, i)
        for w in [w for w in self._working.values() if w.order.symbol == symbol]:
            if not w.live and not await self._arrive(w, touch, ts):
                continue
            if w.cancel_ns >= 0:
                await self._finish(w, OrderCancelled(w.order.client_order_id, ts))
            elif w.taking:
                await self._take(w, touch, ZERO, ts, batch.book, capped=False)

    def _trade_here(self, symbol: str) -> tuple[TickBatch, int] | None:
        """The last trade the market has shown: on a replay clock the one the walk stands at
        (before a batch's first, the previous batch's last)."""
        batch = self._last_batch.get(symbol)
        if batch is None or not batch.ts_ns:
            return None
        cursor = self._cursor.get(symbol, -1) if self._stepped and not self._ended else -1
        if cursor >= 0:
            return batch, cursor
        if self._stepped and not self._ended:
            tape = self._tapes.get(symbol)
            before = None if tape is None else tape.before(batch)
            return None if before is None else (before, len(before.ts_ns) - 1)
        return batch, len(batch.ts_ns) - 1

    async def _arrive(self, w: _Working, touch: tuple[Decimal, Decimal], ts: int) -> bool:
        order = w.order
        coid = order.client_order_id
        crosses = _crosses(order, touch)
        if order.time_in_force is TimeInForce.POST_ONLY and crosses:
            await self._finish(w, OrderRejected(coid, "post_only_would_cross",
                                                "a post-only order would take liquidity", ts))
            return False
        w.live = True
        await self._emit(OrderAccepted(coid, f"P{next(self._order_seq)}", ts))
        if crosses:
            w.taking = True
            w.slip = self._slip_factor(order, ts)
        else:
            w.queue = Decimal(repr(self._volume(order.symbol, self._queue_ns, ts)))
        return True

    async def _take(self, w: _Working, touch: tuple[Decimal, Decimal], size: Decimal, ts: int,
                    book: BookSnapshot | None, capped: bool = True) -> None:
        order = w.order
        inst = self._instruments[order.symbol]
        arrival, w.arrival = w.arrival, False
        crosses = _crosses(order, touch)
        w.seen += size
        if crosses:
            allowed = self._cap * w.seen - w.taken if capped else w.remaining
            qty = inst.floor_qty(min(w.remaining, allowed))
            if order.time_in_force is TimeInForce.FOK and arrival and qty < w.remaining:
                qty = ZERO
            elif qty > 0:
                price = self._taker_price(order, inst, touch, w.slip, book, qty)
                await self._fill_piece(w, qty, price, ts, maker=False)
        if not w.remaining:
            del self._working[order.client_order_id]
        elif order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            await self._finish(w, OrderCancelled(order.client_order_id, ts, "expired"))
        elif order.order_type is OrderType.LIMIT and not crosses:
            w.taking = False  # the touch left it: it rests, first at its own price
            w.queue = ZERO

    async def _make(self, w: _Working, price: float, free: Decimal, ts: int) -> Decimal:
        """Fill a resting limit by what the trade at `price` left; return what is left."""
        limit = w.limit_f
        slack = _slack(limit)
        buy = w.order.side is Side.BUY
        through = price < limit - slack if buy else price > limit + slack
        if not through and abs(price - limit) > slack:
            return free
        if not through:
            eaten = min(w.queue, free)
            w.queue -= eaten
            free -= eaten
        qty = self._instruments[w.order.symbol].floor_qty(min(w.remaining, free))
        if qty <= 0:
            return free
        assert w.order.limit_price is not None
        await self._fill_piece(w, qty, w.order.limit_price, ts, maker=True)
        if not w.remaining:
            del self._working[w.order.client_order_id]
        return free - qty

    # --- prices and fills ------------------------------------------------------------------------

    def _volume(self, symbol: str, window_ns: int, until_ns: int) -> float:
        """The volume traded in the `window_ns` before `until_ns`. Sparse data (candles: a
        trade every 15 minutes) has none in a short window: then the rate since the trade
        before, scaled to the window."""
        tape = self._tapes.get(symbol)
        if tape is None or window_ns <= 0:
            return 0.0
        since = until_ns - window_ns
        last = tape.last_before(until_ns)
        if last is None:
            return 0.0
        if last >= since:
            return tape.volume(since, until_ns)
        return tape.volume(last, until_ns) * window_ns / (until_ns - last)

    def _slip_factor(self, order: ApprovedOrder, ts: int) -> Decimal:
        volume = self._volume(order.symbol, self._window_ns, ts)
        bps = self._max_slip_bps
        if volume > 0:
            bps = min(bps, self._impact_bps * math.sqrt(float(order.qty) / volume))
        move = Decimal(f"{bps:.6f}") / BPS
        return ONE + move if order.side is Side.BUY else ONE - move

    def _taker_price(self, order: ApprovedOrder, inst: Instrument,
                     touch: tuple[Decimal, Decimal], slip: Decimal, book: BookSnapshot | None,
                     qty: Decimal) -> Decimal:
        buy = order.side is Side.BUY
        walked = None if book is None else _book_price(book, buy, float(qty))
        if walked is not None:
            price = inst.round_price(to_decimal_price(walked), order.side)
        else:
            price = inst.round_price((touch[1] if buy else touch[0]) * slip, order.side)
        limit = order.limit_price
        if limit is not None:
            price = min(price, limit) if buy else max(price, limit)
        return price

    async def _fill_piece(self, w: _Working, qty: Decimal, price: Decimal, ts: int,
                          maker: bool) -> None:
        order = w.order
        w.remaining -= qty
        if not maker:
            w.taken += qty
        fee = qty * price * (self._maker_fee if maker else self._taker_fee)
        self.stats.record(order.side, qty, price, w.mid, maker)
        fill = Fill(order.client_order_id, f"T{next(self._trade_seq)}-{order.client_order_id}",
                    order.symbol, order.side, qty, price, fee, ts)
        if self.margin is not None:
            self.margin.on_fill(fill)
        await self._emit(OrderFilled(fill))

    async def _on_liquidated(self, symbols: set[str]) -> None:
        """The venue cancels a liquidated symbol's orders, and those still on their way."""
        for w in [w for w in self._working.values() if w.order.symbol in symbols]:
            await self._finish(w, OrderCancelled(w.order.client_order_id, self._clock.now_ns(),
                                                 "liquidation"))

    async def _finish(self, w: _Working, event: BrokerEvent) -> None:
        self._working.pop(w.order.client_order_id, None)
        await self._emit(event)


def _book_price(book: BookSnapshot, buy: bool, qty: float) -> float | None:
    """The average price of taking `qty` from the book's levels; None if it is too thin."""
    left, cost = qty, 0.0
    for price, size in book.asks if buy else book.bids:
        take = min(left, size)
        cost += take * price
        left -= take
        if left <= 1e-12:
            return cost / qty
    return None
