"""The inventory manager: the only writer of cash, positions, working orders, fees and PnL.

Positions are signed (long > 0) and kept as FIFO lots, so realized and unrealized PnL are exact
`Decimal` arithmetic: an average-cost book would divide and round on every partial close.
`cash` is the account's wallet balance (starting cash + realized PnL - fees + funding) and
`equity = cash + unrealized PnL`, which equals starting cash minus what was paid for the fills
plus what the open position is worth at the mark — the identity the property tests check.

Everyone else reads through `InventoryView` (`daemon.book.view`). One `BooksListener` (the risk
supervisor, for its circuit breakers) is told of every mark, fill and rejection as it is
booked, so post-trade checks see each one. Rebuilding the books from the journal at startup
(`restoring`) is not trading: the listener is told nothing of the replay (the reconciler hands
the risk supervisor the journal's copy of the risk state once it is done).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Protocol

from daemon.book.closable import Closable
from daemon.book.lots import Book
from daemon.book.recent_ids import DEDUP_WINDOW, RecentIds
from daemon.book.view import InventoryView as InventoryView  # re-exported: its old home
from daemon.model import (
    ZERO,
    Fill,
    Instrument,
    InvalidTransition,
    MarketKind,
    Order,
    OrderState,
    PositionView,
    Side,
    UnknownInstrument,
    to_decimal_price,
)
from daemon.ops import log

_log = log.get("inventory")

class BooksListener(Protocol):
    """Told synchronously, after the books changed; an exception fails the calling task."""

    def on_mark(self, symbol: str) -> None: ...

    def on_fill(self, fill: Fill) -> None: ...

    def on_rejected(self, order: Order) -> None: ...


class InventoryManager:
    def __init__(self, instruments: Iterable[Instrument], starting_cash: Decimal,
                 allotted_base: Mapping[str, Decimal] | None = None) -> None:
        """`allotted_base`: per base asset, base held before any fill that the daemon may sell
        on spot (`exchange.allotted_base`). Positions count from it: a sale of it is a
        position below zero, down to minus the allotment, and flat is the allotment held."""
        self._instruments = {i.symbol: i for i in instruments}
        self._books = {s: Book() for s in self._instruments}
        self._closable = {s: Closable(i) for s, i in self._instruments.items()}
        allotted = allotted_base or {}
        self._allotted = {s: allotted.get(i.base, ZERO) if i.kind is MarketKind.SPOT else ZERO
                          for s, i in self._instruments.items()}
        self._marks: dict[str, float] = {}
        self._mark_ns: dict[str, int] = {}
        self._touch: dict[str, tuple[float, float]] = {}
        # Decimal forms, made on the first read after an update: a batch updates these once,
        # while every order reads them several times (gate, equity, dust check).
        self._mark_dec: dict[str, Decimal] = {}
        self._touch_dec: dict[str, tuple[Decimal, Decimal]] = {}
        self._listener: BooksListener | None = None
        self._fill_taps: list[Callable[[Fill], object]] = []
        self._starting_cash = starting_cash
        self._realized = ZERO
        self._fees = ZERO
        self._funding = ZERO  # swaps: funding received (+) and paid (-)
        self._funding_seen: set[tuple[str, str]] = set()
        # Swaps: the venue's mark price, which its PnL and liquidation use (not the last trade)
        self._venue_marks: dict[str, Decimal] = {}
        self._liquidation: dict[str, Decimal] = {}
        self._cash = starting_cash  # starting + realized - fees + funding, kept per change
        self._orders: dict[str, Order] = {}  # open orders only
        # Per instrument, keyed by the trade id alone: a (symbol, id) tuple key cost 56 more
        # bytes a fill, a third of the window's memory (the soak's RSS grew with it).
        self._seen_trades = {s: RecentIds(DEDUP_WINDOW) for s in self._instruments}
        self._fill_count = 0
        self._revision = 0  # every change of cash or of how a position is valued
        self._changed: asyncio.Event | None = None  # made by the first waiter
        self.view = InventoryView(self)

    # --- writes -----------------------------------------------------------------------------

    def mark(self, symbol: str, price: float, ts_ns: int, notify: bool = True) -> None:
        """Record the latest market price. Floats here: converted only when equity is asked.
        `notify=False` spares the listener a mark its breakers were shown cannot trip them
        (a replay's marks between looks, see `daemon.market_walk`)."""
        self._marks[symbol] = price
        self._mark_ns[symbol] = ts_ns
        self._mark_dec.pop(symbol, None)
        if notify and self._listener is not None:
            self._listener.on_mark(symbol)

    def quote(self, symbol: str, bid: float, ask: float) -> None:
        """Record the top of book: what a market order would pay (the gate's price collar)."""
        if 0 < bid <= ask:
            self._touch[symbol] = (bid, ask)
            self._touch_dec.pop(symbol, None)

    def set_listener(self, listener: BooksListener | None) -> None:
        self._listener = listener

    def tap_fills(self, tap: Callable[[Fill], object]) -> None:
        """Also show `tap` every fill booked from now on, after the listener (the bench's
        digest of a run's fills, tests that compare fills). Not told of journal replays."""
        self._fill_taps.append(tap)

    @contextlib.contextmanager
    def restoring(self) -> Iterator[None]:
        """Rebuild the books (replay fills, reopen orders) inside this block without telling the
        listener (or the taps) of each step: the replayed fills are history that the carried
        risk state already counts. Passed to the listener they would count as new PnL: a
        restart would double the day's loss, or hand out yesterday's profit as budget."""
        listener, self._listener = self._listener, None
        taps, self._fill_taps = self._fill_taps, []
        try:
            yield
        finally:
            self._listener = listener
            self._fill_taps = taps

    def open_order(self, order: Order) -> None:
        """Record an order before its request goes out, so a crash mid-send cannot hide it."""
        if order.symbol not in self._books:
            raise UnknownInstrument(order.symbol)
        if order.client_order_id in self._orders:
            raise ValueError(f"duplicate client order id {order.client_order_id}")
        self._orders[order.client_order_id] = order
        self._notify()

    def order_accepted(self, client_order_id: str, venue_order_id: str) -> Order | None:
        order = self._orders.get(client_order_id)
        if order is not None and order.state is OrderState.PENDING_NEW:
            order.venue_order_id = venue_order_id
            order.transition(OrderState.ACCEPTED)
            self._notify()
        return order

    def order_pending_cancel(self, client_order_id: str) -> Order | None:
        order = self._orders.get(client_order_id)
        if order is not None and order.state is not OrderState.PENDING_CANCEL:
            order.transition(OrderState.PENDING_CANCEL)
        return order

    def order_done(self, client_order_id: str, state: OrderState) -> Order | None:
        """The venue finished an order without (further) fills: cancelled or rejected.

        The venue is the authority on an order's end: a report our state machine did not
        expect is logged and obeyed, never allowed to stop the books."""
        order = self._orders.pop(client_order_id, None)
        if order is not None:
            try:
                order.transition(state)
            except InvalidTransition as err:
                _log.error("order.unexpected_transition", error=str(err))
                order.state = state
            self._notify()
            if state is OrderState.REJECTED and self._listener is not None:
                self._listener.on_rejected(order)
        return order

    def apply_fill(self, fill: Fill) -> bool:
        """Book a fill exactly once; return False for a duplicate trade id."""
        seen = self._seen_trades.get(fill.symbol)
        if seen is None:
            raise UnknownInstrument(fill.symbol)
        if not seen.add(fill.trade_id):
            return False
        book = self._books[fill.symbol]
        self._realized += book.apply(fill.signed_qty, fill.price)
        if fill.fee_base:
            # Paying a fee in base is selling that much at the fill price and paying the
            # proceeds as the fee: the position shrinks, cash is unchanged, fees grow.
            self._realized += book.apply(-fill.fee_base, fill.price)
        self._fees += fill.fee_quote
        self._cash = self._starting_cash + self._realized - self._fees + self._funding
        self._fill_count += 1
        self._revision += 1
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            order.filled_qty += fill.qty
            if order.filled_qty >= order.qty:
                order.transition(OrderState.FILLED)
                del self._orders[fill.client_order_id]
            else:
                order.transition(OrderState.PARTIALLY_FILLED)
        self._notify()
        if self._listener is not None:
            self._listener.on_fill(fill)
        for tap in self._fill_taps:
            tap(fill)
        return True

    def apply_funding(self, symbol: str, funding_id: str, amount: Decimal) -> bool:
        """Book a funding settlement exactly once; False for one already booked."""
        if symbol not in self._books:
            raise UnknownInstrument(symbol)
        key = (symbol, funding_id)
        if key in self._funding_seen:
            return False
        self._funding_seen.add(key)
        self._funding += amount
        self._cash = self._starting_cash + self._realized - self._fees + self._funding
        self._revision += 1
        self._notify()
        return True

    def venue_mark(self, symbol: str, price: Decimal,
                   liquidation_price: Decimal | None = None) -> None:
        """The venue's mark price for a swap: unrealized PnL (equity) is valued at it."""
        if symbol not in self._books:
            raise UnknownInstrument(symbol)
        if price > 0:
            self._venue_marks[symbol] = price
            self._revision += 1
        if liquidation_price is not None:
            self._liquidation[symbol] = liquidation_price

    def _notify(self) -> None:
        # Three changes an order and almost never a waiter (only the flatten waits): an Event
        # exists only while someone waits, instead of a new one on every change.
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_changed(self, timeout_s: float) -> bool:
        """Wait until the books change or the timeout passes; True if they changed."""
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_s):  # wait_for can swallow a cancel on 3.11
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    # --- reads (also through the view) ------------------------------------------------------

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    def position(self, symbol: str) -> Decimal:
        return self._books[symbol].qty

    def allotted_base(self, symbol: str) -> Decimal:
        """Base of a spot instrument the daemon held before its first fill and may sell; the
        account holds `position + allotted_base` for it. 0 on swaps and without one."""
        return self._allotted[symbol]

    def mark_price(self, symbol: str) -> Decimal | None:
        dec = self._mark_dec.get(symbol)
        if dec is None:
            price = self._marks.get(symbol)
            if price is None:
                return None
            dec = self._mark_dec[symbol] = to_decimal_price(price)
        return dec

    def mark_ts_ns(self, symbol: str) -> int | None:
        return self._mark_ns.get(symbol)

    def touch(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        """The latest (bid, ask), or None before the first quote."""
        dec = self._touch_dec.get(symbol)
        if dec is None:
            touch = self._touch.get(symbol)
            if touch is None:
                return None
            dec = self._touch_dec[symbol] = (to_decimal_price(touch[0]),
                                             to_decimal_price(touch[1]))
        return dec

    def unrealized_pnl(self) -> Decimal:
        total = ZERO
        for symbol, book in self._books.items():
            if book.lots:
                mark = self._venue_marks.get(symbol) or self.mark_price(symbol)
                # Without a mark yet the best estimate of a position's worth is what it cost.
                total += book.unrealized(mark) if mark is not None else ZERO
        return total

    @property
    def realized_pnl(self) -> Decimal:
        return self._realized

    @property
    def fees(self) -> Decimal:
        return self._fees

    @property
    def funding(self) -> Decimal:
        return self._funding

    def valuation_mark(self, symbol: str) -> Decimal | None:
        """The price positions are valued at: the venue's mark on a swap, else the last trade."""
        return self._venue_marks.get(symbol) or self.mark_price(symbol)

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """What the venue last reported as our position's liquidation price (0: none)."""
        return self._liquidation.get(symbol)

    @property
    def cash(self) -> Decimal:
        return self._cash

    @property
    def starting_cash(self) -> Decimal:
        return self._starting_cash

    def equity(self) -> Decimal:
        return self.cash + self.unrealized_pnl()

    @property
    def fill_count(self) -> int:
        return self._fill_count

    @property
    def revision(self) -> int:
        """Changes with every fill, funding or venue mark: equity as a line in the trade
        prices (what the breakers' screen holds) is valid while it stays."""
        return self._revision

    def positions(self) -> list[PositionView]:
        out = []
        for symbol, book in self._books.items():
            mark = self.valuation_mark(symbol) or ZERO
            out.append(PositionView(
                symbol=symbol, qty=book.qty, avg_price=book.avg_price(), mark=mark,
                unrealized_pnl=book.unrealized(mark) if mark else ZERO,
                realized_pnl=book.realized,
            ))
        return out

    def working_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._orders.values() if symbol is None or o.symbol == symbol]

    def is_working(self, client_order_id: str) -> bool:
        return client_order_id in self._orders

    def working_qty(self, symbol: str, side: Side) -> Decimal:
        """Unfilled quantity of open orders on one side of one instrument."""
        buy, sell = self.working_qtys(symbol)
        return buy if side is Side.BUY else sell

    def closable_qty(self, symbol: str) -> Decimal:
        """How much of the position the venue would let us close: on the lot grid, at least
        the minimum quantity and, at the mark, the minimum notional. The rest is dust."""
        rule, qty = self._closable[symbol], self._books[symbol].qty
        closable = rule.screen(qty, self._marks.get(symbol))
        return closable if closable is not None else rule.exact(qty, self.mark_price(symbol))

    def dust(self) -> dict[str, Decimal]:
        """Positions too small for the venue to trade (fees taken in base leave these)."""
        return {s: b.qty for s, b in self._books.items() if b.lots and not self.closable_qty(s)}

    def working_qtys(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Unfilled (buy, sell) quantity of open orders on one instrument, in one pass."""
        buy = sell = ZERO
        for o in self._orders.values():
            if o.symbol == symbol:
                if o.side is Side.BUY:
                    buy += o.remaining_qty
                else:
                    sell += o.remaining_qty
        return buy, sell

    def is_flat(self) -> bool:
        """Nothing left that could be closed, and no order working. Dust does not count: no
        order can remove it, and `dust()` reports it."""
        return not self._orders and all(not self.closable_qty(s) for s in self._books)
