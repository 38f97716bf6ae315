"""The paper broker: a simulated account that fills against the market data the daemon sees.

Orders and cancels are handed over (`submit` and `cancel` return at once) and worked in the
order they came, by the broker's own loop (`run`, which the fill task runs), as a venue's gateway
takes requests: the router does not wait for one order's fill before it hands over the next.

Market orders fill at once at the best ask (buys) or bid (sells) moved against us by
`slippage_bps`, rounded to the tick grid in the adverse direction; limit orders that cross fill
at the touch, the others rest until the touch reaches them. Time in force: an IOC or FOK order
that does not fill at once expires (every paper fill is whole, so the two behave alike); a
post-only order that would cross is rejected (`post_only_would_cross`), never filled as a
taker, and once resting fills at its own limit, as a maker does. Fees are `fee_bps` of the
notional, in quote. The account itself is the books' (the inventory manager's): the broker
only fills.

The touch is the market as the daemon has seen it. Live, the daemon has seen every trade of the
last batch, and the touch is its quote. On a replay clock the daemon walks a batch tick by tick
(`execution.market_walk`), and tells the broker where it stands (`at_tick`): the touch is the
batch's spread around that trade, as a feed that delivered trade by trade would have shown it,
and before the walk reaches the batch's first trade it is the previous batch's last touch.
Resting limits are then matched at the tick where the market first reaches them
(`first_cross` finds it, `match_resting` fills), never at a price from later in the batch.

Swaps: initial margin, funding and liquidation are `paper_margin`'s; the broker tells it of
every fill and trade it stops at, and reports what it settles (funding, a liquidation's fill).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from decimal import Decimal

from daemon.clock import Clock, stepper
from daemon.events import (
    BrokerEvent,
    FundingPaid,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from daemon.handoff import WorkQueue
from daemon.model import (
    Fill,
    Instrument,
    OrderType,
    Side,
    TickBatch,
    TimeInForce,
    to_decimal_price,
)
from daemon.risk.gate import ApprovedOrder
from daemon.venues.base import EVENT_QUEUE_SIZE, UnresolvedOrder, VenueOrder
from daemon.venues.paper_margin import PaperMargin
from daemon.venues.paper_stats import ExecutionStats

BPS = Decimal(10_000)


class PaperBroker:
    def __init__(self, instruments: dict[str, Instrument], fee_bps: Decimal,
                 slippage_bps: Decimal, clock: Clock, margin: PaperMargin | None = None) -> None:
        self._instruments = instruments
        self.margin = margin  # swaps: margin, funding and liquidation (`paper_margin`)
        self._fee = fee_bps / BPS
        self._buy_factor = 1 + slippage_bps / BPS
        self._sell_factor = 1 - slippage_bps / BPS
        self._clock = clock
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        # Orders and cancels (by client id) handed over, worked in order by `run`. Unbounded:
        # the risk gate's throttle bounds what can come in.
        self._requests: WorkQueue[ApprovedOrder | str] = WorkQueue()
        self._touch: dict[str, tuple[Decimal, Decimal]] = {}
        self._touch_before: dict[str, tuple[Decimal, Decimal]] = {}  # before the last batch
        self._last_batch: dict[str, TickBatch] = {}
        # Stepped (replay): the index in the last batch the daemon has reached, -1 before its
        # first trade. Live the daemon has seen the whole batch when it is handed over.
        self._stepped = stepper(clock) is not None
        self._cursor: dict[str, int] = {}
        self._resting: dict[str, ApprovedOrder] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._sent_mid: dict[str, Decimal] = {}  # a resting order's mid when it was sent
        self.stats = ExecutionStats()

    @property
    def events(self) -> asyncio.Queue[BrokerEvent]:
        return self._events

    async def close(self) -> None:
        return None

    async def run(self) -> None:
        """Work the requests in the order they were handed over (the fill task runs this)."""
        requests = self._requests
        while True:
            request = await requests.get()
            try:
                if isinstance(request, str):
                    await self._cancel(request)
                else:
                    await self._execute(request)
            finally:
                requests.task_done()

    async def settled(self) -> None:
        await self._requests.join()

    @property
    def lookup_window_s(self) -> float:
        return 0.0

    async def query_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return None  # what this process did not fill before it died never happened

    async def query_fills(self, order: VenueOrder) -> list[Fill]:
        return []

    async def query_open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        return []

    async def query_holdings(self, assets: list[str]) -> dict[str, Decimal]:
        return {}

    async def query_positions(self, symbols: list[str]) -> dict[str, Decimal]:
        return {}

    async def query_funding(self, symbol: str, since_ns: int) -> list[FundingPaid]:
        return []

    def track(self, order: VenueOrder) -> None:
        return None

    def unresolved_orders(self) -> list[UnresolvedOrder]:
        return []  # every paper order's outcome is known at once

    def watch_malformed_replies(self, listener: Callable[[], None]) -> None:
        return None  # no venue, no replies

    async def submit(self, order: ApprovedOrder) -> None:
        # Handed over, not worked here: the router goes on to the decision's next order while
        # this one is filled, as a venue's gateway would take it.
        self._requests.put_nowait(order)

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        self._requests.put_nowait(client_order_id)  # behind any submit of the same order

    async def _execute(self, order: ApprovedOrder) -> None:
        now = self._clock.now_ns()
        touch = self._touch_at(order.symbol)
        if touch is None:
            await self._events.put(OrderRejected(order.client_order_id, "no_market",
                                                 "no quote yet for " + order.symbol, now))
            return
        tif = order.time_in_force
        if tif is TimeInForce.POST_ONLY and _crosses(order, touch):
            await self._emit(OrderRejected(order.client_order_id, "post_only_would_cross",
                                           "a post-only order would take liquidity", now))
            return
        if self.margin is not None and (why := self.margin.refuse(order, touch)) is not None:
            await self._emit(OrderRejected(order.client_order_id, "insufficient_margin", why, now))
            return
        await self._emit(OrderAccepted(order.client_order_id, f"P{next(self._order_seq)}", now))
        self._sent_mid[order.client_order_id] = (touch[0] + touch[1]) / 2
        if order.order_type is OrderType.MARKET:
            await self._fill(order, self._market_price(order, touch), now)
        elif not await self._try_fill_limit(order, touch, now):
            if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
                self._sent_mid.pop(order.client_order_id, None)
                await self._emit(OrderCancelled(order.client_order_id, now, "expired"))
            else:
                self._resting[order.client_order_id] = order

    async def _cancel(self, client_order_id: str) -> None:
        if self._resting.pop(client_order_id, None) is not None:
            self._sent_mid.pop(client_order_id, None)
            await self._events.put(OrderCancelled(client_order_id, self._clock.now_ns()))

    async def on_market(self, batch: TickBatch) -> None:
        if batch.bid <= 0 or batch.ask <= 0:
            return
        touch = (to_decimal_price(batch.bid), to_decimal_price(batch.ask))
        before = self._touch.get(batch.symbol)
        if before is not None:
            self._touch_before[batch.symbol] = before
        self._touch[batch.symbol] = touch
        self._last_batch[batch.symbol] = batch
        if self._stepped:
            self._cursor[batch.symbol] = -1  # the walk moves through it: `at_tick`
            return
        if self.margin is not None and self.margin.walk(batch):
            await self._report_margin()
        if self._resting:
            await self.match_resting(batch.symbol)

    async def _report_margin(self) -> None:
        """Swaps: report funding and liquidations; a liquidated symbol's resting orders are
        cancelled, as the venue cancels them."""
        assert self.margin is not None
        events, liquidated = self.margin.take()
        for event in events:
            await self._emit(event)
        for coid, order in list(self._resting.items()):
            if order.symbol in liquidated:
                del self._resting[coid]
                await self._emit(OrderCancelled(coid, self._clock.now_ns(), "liquidation"))
        await self._on_liquidated(liquidated)

    async def _on_liquidated(self, symbols: set[str]) -> None:
        return None  # the touch model holds no order but the resting ones

    async def market_ended(self) -> None:
        return None  # every order is worked as it comes, at the last touch

    async def fill_here(self, on: bool) -> None:
        return None  # the same: every order is worked at the touch the walk stands at

    def at_tick(self, symbol: str, index: int) -> None:
        """A replay's daemon has read the last batch of `symbol` up to trade `index`."""
        self._cursor[symbol] = index
        if self.margin is not None and symbol in self._last_batch:
            self.margin.at_tick(self._last_batch[symbol], index)

    def has_resting(self, symbol: str) -> bool:
        if self.margin is not None and self.margin.pending:
            return True  # funding or a liquidation to report: `match_resting` does
        if not self._resting:  # asked at every bar of a replay: the common case first
            return False
        return any(o.symbol == symbol for o in self._resting.values())

    async def match_resting(self, symbol: str) -> None:
        """Fill the resting limits of `symbol` that the touch now reaches."""
        if self.margin is not None and self.margin.pending:
            await self._report_margin()
        touch = self._touch_at(symbol)
        if touch is None:
            return
        now = self._clock.now_ns()
        for coid, order in list(self._resting.items()):
            if order.symbol == symbol and await self._try_fill_limit(order, touch, now):
                del self._resting[coid]

    def first_cross(self, batch: TickBatch, lo: int, hi: int, low: float, high: float) -> int:
        """The first trade in [lo, hi) of `batch` whose touch may reach a resting limit; `hi` if
        none. Its prices are within [`low`, `high`]. Floats with slack: a trade passed over
        cannot fill one (`match_resting` decides exactly at the trade returned)."""
        if self.margin is not None:  # swaps: funding and liquidation are stops too
            hi = self.margin.first_stop(batch, lo, hi, low, high)
        if not self._resting or lo >= hi:
            return hi
        buy, sell = self._resting_bounds(batch.symbol)
        if buy is None and sell is None:
            return hi
        half = (batch.ask - batch.bid) / 2
        # A buy fills when the ask (price + half) is at or below its limit; a sell when the bid
        # (price - half) is at or above it.
        buy_at = -float("inf") if buy is None else buy - half + _slack(buy)
        sell_at = float("inf") if sell is None else sell + half - _slack(sell)
        if low > buy_at and high < sell_at:
            return hi
        return lo + _first_outside(batch.price[lo:hi], buy_at, sell_at)

    def _resting_bounds(self, symbol: str) -> tuple[float | None, float | None]:
        """The highest resting buy limit and the lowest resting sell limit of `symbol`."""
        buy: float | None = None
        sell: float | None = None
        for order in self._resting.values():
            if order.symbol != symbol or order.limit_price is None:
                continue
            limit = float(order.limit_price)
            if order.side is Side.BUY:
                buy = limit if buy is None else max(buy, limit)
            else:
                sell = limit if sell is None else min(sell, limit)
        return buy, sell

    def _touch_at(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        if not self._stepped:
            return self._touch.get(symbol)
        cursor = self._cursor.get(symbol, -1)
        batch = self._last_batch.get(symbol)
        if batch is None or cursor < 0:
            return self._touch_before.get(symbol)
        return touch_at(batch, cursor)

    def _market_price(self, order: ApprovedOrder, touch: tuple[Decimal, Decimal]) -> Decimal:
        bid, ask = touch
        inst = self._instruments[order.symbol]
        if order.side is Side.BUY:
            return inst.round_price(ask * self._buy_factor, Side.BUY)
        return inst.round_price(bid * self._sell_factor, Side.SELL)

    async def _try_fill_limit(self, order: ApprovedOrder, touch: tuple[Decimal, Decimal],
                              now: int) -> bool:
        bid, ask = touch
        limit = order.limit_price
        assert limit is not None
        # A resting post-only order is a maker: it trades at its own price.
        maker = order.time_in_force is TimeInForce.POST_ONLY
        if order.side is Side.BUY and ask <= limit:
            await self._fill(order, limit if maker else ask, now)
            return True
        if order.side is Side.SELL and bid >= limit:
            await self._fill(order, limit if maker else bid, now)
            return True
        return False

    async def _fill(self, order: ApprovedOrder, price: Decimal, now: int) -> None:
        fee = order.qty * price * self._fee
        mid = self._sent_mid.pop(order.client_order_id, price)
        self.stats.record(order.side, order.qty, price, mid,
                          order.time_in_force is TimeInForce.POST_ONLY)
        # The trade id carries the order id: unique across restarts of a journaled paper account.
        fill = Fill(order.client_order_id, f"T{next(self._trade_seq)}-{order.client_order_id}",
                    order.symbol, order.side, order.qty, price, fee, now)
        if self.margin is not None:
            self.margin.on_fill(fill)
        await self._emit(OrderFilled(fill))

    async def _emit(self, event: BrokerEvent) -> None:
        if self._events.full():
            await self._events.put(event)  # fills are never dropped: wait for room
        else:
            self._events.put_nowait(event)


def touch_at(batch: TickBatch, i: int) -> tuple[Decimal, Decimal]:
    """The touch as of trade `i`: the batch's spread around that trade, as a feed delivering
    trade by trade would have shown it."""
    price = batch.price[i]
    half = (batch.ask - batch.bid) / 2
    if not half:  # trades-only data: the touch is the trade
        touch = to_decimal_price(price)
        return touch, touch
    return to_decimal_price(price - half), to_decimal_price(price + half)


def _crosses(order: ApprovedOrder, touch: tuple[Decimal, Decimal]) -> bool:
    """Whether a limit order would trade at once against the touch (take liquidity)."""
    limit = order.limit_price
    if limit is None:
        return True
    return touch[1] <= limit if order.side is Side.BUY else touch[0] >= limit


def _slack(limit: float) -> float:
    return 1e-9 * (abs(limit) + 1.0)


def _first_outside(run: Sequence[float], buy_at: float, sell_at: float) -> int:
    for i, price in enumerate(run):
        if price <= buy_at or price >= sell_at:
            return i
    return len(run)
