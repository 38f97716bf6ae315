"""The matching engine: user orders, balances and fills, all in `Decimal`.

User orders trade only against the public `Book` liquidity (never against each other). An
incoming order first takes what crosses (taker fee), a GTC LIMIT rests with the rest, and a
resting order fills at its own price (maker fee) whenever a book update crosses it. Fees are
charged in the asset received, as on Binance spot: base for BUY, quote for SELL — or, with
`fee_asset` set, in that third asset (Binance's "pay fees with BNB").

Every state change is reported to `user_listeners` as Binance user-data events
(`executionReport`, then `outboundAccountPosition`), and every fill to `fill_listeners` so the
synthetic market data can print it on the public tape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TypeVar

from . import errors
from .book import Book
from .errors import BinanceError
from .markets import SymbolSpec
from .models import ZERO, Balance, Fill, Order, account_position, execution_report

EIGHT_DP = Decimal("0.00000001")
UserListener = Callable[[dict[str, object]], None]
FillListener = Callable[[Order, Fill], None]
T = TypeVar("T")


class IdSequence:
    """Monotonic ids shared by everything that prints on one tape (user + synthetic trades)."""

    def __init__(self, start: int = 1) -> None:
        self.value = start - 1

    def next(self) -> int:
        self.value += 1
        return self.value


class Engine:
    def __init__(
        self,
        specs: dict[str, SymbolSpec],
        books: dict[str, Book],
        clock: Callable[[], int],
        trade_ids: dict[str, IdSequence],
        maker_fee: Decimal = Decimal("0.001"),
        taker_fee: Decimal = Decimal("0.001"),
    ) -> None:
        self.specs, self.books, self.clock, self.trade_ids = specs, books, clock, trade_ids
        self.maker_fee, self.taker_fee = maker_fee, taker_fee
        # Pay fees in a third asset (Binance's "pay fees with BNB"): (asset, its quote price).
        self.fee_asset: tuple[str, Decimal] | None = None
        self.balances: dict[str, Balance] = {}
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.rejections: list[tuple[str, int, str]] = []  # (clientOrderId, code, msg)
        self.forced_rejects: deque[BinanceError] = deque()
        self.user_listeners: list[UserListener] = []
        self.fill_listeners: list[FillListener] = []
        self._by_client: dict[tuple[str, str], int] = {}
        self._order_ids = IdSequence(10_000_001)
        self._changed: set[str] = set()

    # --- balances ------------------------------------------------------------------------
    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def set_balance(self, asset: str, free: Decimal, locked: Decimal | None = None) -> None:
        bal = self.balance(asset)
        bal.free = free
        if locked is not None:
            bal.locked = locked
        self._changed.add(asset)
        self._flush_account()

    # --- order entry ---------------------------------------------------------------------
    def place_order(
        self, symbol: str, side: str, type_: str, qty: Decimal | None,
        quote_qty: Decimal | None, price: Decimal | None, tif: str | None, client_id: str,
    ) -> tuple[Order, list[Fill]]:
        try:
            return self._place(symbol, side, type_, qty, quote_qty, price, tif, client_id)
        except BinanceError as exc:
            self.rejections.append((client_id, exc.code, exc.msg))
            raise

    def _place(
        self, symbol: str, side: str, type_: str, qty: Decimal | None,
        quote_qty: Decimal | None, price: Decimal | None, tif: str | None, client_id: str,
    ) -> tuple[Order, list[Fill]]:
        spec = self.specs.get(symbol)
        if spec is None:
            raise errors.invalid_symbol()
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if type_ not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(-1116, "Invalid orderType.")
        if type_ == "MARKET":
            if qty is None and quote_qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                          "but both were empty/null!")
            if qty is not None and quote_qty is not None:
                raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            price, tif = None, "GTC"
        else:
            if qty is None:
                raise errors.mandatory("quantity")
            if price is None:
                raise errors.mandatory("price")
            if type_ == "LIMIT" and tif is None:
                raise errors.mandatory("timeInForce")
            tif = tif or "GTC"
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        key = (symbol, client_id)
        if key in self._by_client and self.orders[self._by_client[key]].is_open:
            raise errors.duplicate_order()
        if self.forced_rejects:
            raise self.forced_rejects.popleft()
        book = self.books[symbol]
        ref = book.mid() or spec.start_mid
        if quote_qty is not None:
            if quote_qty < spec.min_notional:
                raise errors.filter_failure("NOTIONAL")
        else:
            spec.check_order(type_, qty, price, ref)
        plan = self._plan(book, side, price, qty, quote_qty, spec)
        if type_ == "LIMIT_MAKER" and plan:
            raise BinanceError(-2010, "Order would immediately match and take.")
        self._check_funds(spec, side, type_, qty, price, plan)
        now = self.clock()
        assert qty is not None or quote_qty is not None
        order = Order(
            symbol=symbol, order_id=self._order_ids.next(), client_order_id=client_id,
            side=side, type=type_, time_in_force=tif or "GTC", price=price or ZERO,
            orig_qty=qty if qty is not None else sum((q for _, q in plan), ZERO),
            orig_quote_qty=quote_qty or ZERO, time=now, update_time=now,
        )
        self.orders[order.order_id] = order
        self._by_client[key] = order.order_id
        if type_ != "MARKET":
            self._lock(spec, order)
        self._emit(order, "NEW")
        fok_short = tif == "FOK" and sum((q for _, q in plan), ZERO) < order.orig_qty
        fills = [] if fok_short else [self._execute(order, p, q, maker=False) for p, q in plan]
        if order.is_open and (type_ == "MARKET" or tif in ("IOC", "FOK")):
            self._finish(order, "EXPIRED")
        self._flush_account()
        return order, fills

    def _plan(
        self, book: Book, side: str, limit: Decimal | None, qty: Decimal | None,
        quote_qty: Decimal | None, spec: SymbolSpec,
    ) -> list[tuple[Decimal, Decimal]]:
        """Which (price, qty) an incoming order would take, without touching anything."""
        plan: list[tuple[Decimal, Decimal]] = []
        left_qty, left_quote = qty, quote_qty
        for price, avail in book.available(side):
            if limit is not None and (price > limit if side == "BUY" else price < limit):
                break
            if left_qty is not None:
                take = min(avail, left_qty)
                left_qty -= take
            else:
                assert left_quote is not None
                take = min(avail, (left_quote / price / spec.step_size).to_integral_value(
                    ROUND_DOWN) * spec.step_size)
                left_quote -= take * price
            if take <= 0:
                break
            plan.append((price, take))
        return plan

    def _check_funds(
        self, spec: SymbolSpec, side: str, type_: str, qty: Decimal | None,
        price: Decimal | None, plan: list[tuple[Decimal, Decimal]],
    ) -> None:
        if side == "BUY":
            need = qty * price if type_ != "MARKET" and qty is not None and price is not None \
                else sum((p * q for p, q in plan), ZERO)
            have = self.balance(spec.quote).free
        else:
            need = qty if qty is not None else sum((q for _, q in plan), ZERO)
            have = self.balance(spec.base).free
        if need > have:
            raise errors.insufficient_balance()

    def _lock(self, spec: SymbolSpec, order: Order) -> None:
        asset = spec.quote if order.side == "BUY" else spec.base
        amount = order.orig_qty * order.price if order.side == "BUY" else order.orig_qty
        bal = self.balance(asset)
        bal.free -= amount
        bal.locked += amount
        order.locked = amount
        self._changed.add(asset)

    def _unlock_rest(self, order: Order) -> None:
        spec = self.specs[order.symbol]
        asset = spec.quote if order.side == "BUY" else spec.base
        bal = self.balance(asset)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = ZERO
        self._changed.add(asset)

    # --- execution -----------------------------------------------------------------------
    def _execute(self, order: Order, price: Decimal, qty: Decimal, maker: bool,
                 consume: bool = True) -> Fill:
        spec = self.specs[order.symbol]
        quote = qty * price
        rate = self.maker_fee if maker else self.taker_fee
        base_bal, quote_bal = self.balance(spec.base), self.balance(spec.quote)
        if order.side == "BUY":
            fee = (qty * rate).quantize(EIGHT_DP, ROUND_HALF_UP)
            fee_asset = spec.base
            if order.type == "MARKET":
                quote_bal.free -= quote
            else:
                # the lock was taken at the limit price; any price improvement goes back to free
                reserved = qty * order.price
                quote_bal.locked -= reserved
                quote_bal.free += reserved - quote
                order.locked -= reserved
            base_bal.free += qty - fee
        else:
            fee = (quote * rate).quantize(EIGHT_DP, ROUND_HALF_UP)
            fee_asset = spec.quote
            if order.type == "MARKET":
                base_bal.free -= qty
            else:
                base_bal.locked -= qty
                order.locked -= qty
            quote_bal.free += quote - fee
        if self.fee_asset is not None:
            # the fee comes out of the fee asset instead: the trade itself is whole
            fee_asset, fee_price = self.fee_asset
            if order.side == "BUY":
                base_bal.free += fee
                fee = (quote * rate / fee_price).quantize(EIGHT_DP, ROUND_HALF_UP)
            else:
                quote_bal.free += fee
                fee = (quote * rate / fee_price).quantize(EIGHT_DP, ROUND_HALF_UP)
            self.balance(fee_asset).free -= fee
            self._changed.add(fee_asset)
        self._changed.update((spec.base, spec.quote))
        now = self.clock()
        fill = Fill(
            trade_id=self.trade_ids[order.symbol].next(), order_id=order.order_id,
            symbol=order.symbol,
            price=price, qty=qty, quote_qty=quote, commission=fee, commission_asset=fee_asset,
            time=now, is_buyer=order.side == "BUY", is_maker=maker,
        )
        order.executed_qty += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_time = now
        order.fills.append(fill)
        self.fills.append(fill)
        if consume:
            self.books[order.symbol].consume(order.side, price, qty)
        self._emit(order, "TRADE", fill)
        for listener in self.fill_listeners:
            listener(order, fill)
        return fill

    def match_resting(self, symbol: str) -> list[Fill]:
        """Fill resting orders the book now crosses, at their own limit price, as maker."""
        book = self.books[symbol]
        fills: list[Fill] = []
        for order in self.open_orders(symbol):
            for level_price, avail in book.available(order.side):
                crosses = level_price <= order.price if order.side == "BUY" \
                    else level_price >= order.price
                if not crosses or not order.is_open:
                    break
                take = min(avail, order.remaining)
                # consume the crossing level itself: the order's price is not a book level
                book.consume(order.side, level_price, take)
                fills.append(self._execute(order, order.price, take, maker=True, consume=False))
        if fills:
            self._flush_account()
        return fills

    def _finish(self, order: Order, status: str, cancel_client_id: str = "") -> None:
        order.status = status
        order.update_time = self.clock()
        self._unlock_rest(order)
        self._emit(order, status, cancel_client_id=cancel_client_id)

    # --- cancel / operator actions ----------------------------------------------------------
    def cancel(self, order: Order, cancel_client_id: str) -> Order:
        if not order.is_open:
            raise errors.unknown_order_cancel()
        self._finish(order, "CANCELED", cancel_client_id)
        self._flush_account()
        return order

    def operator_fill(self, order: Order, qty: Decimal | None = None,
                      price: Decimal | None = None) -> Fill:
        """Fill a resting order as if the market traded through it (e.g. while a client is
        disconnected). Does not consume public book liquidity."""
        if not order.is_open:
            raise errors.unknown_order_cancel()
        fill = self._execute(order, price if price is not None else order.price,
                             qty if qty is not None else order.remaining, maker=True,
                             consume=False)
        self._flush_account()
        return fill

    # --- queries -------------------------------------------------------------------------
    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        if order_id is not None:
            order = self.orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        if client_id is not None:
            oid = self._by_client.get((symbol, client_id))
            return self.orders.get(oid) if oid is not None else None
        return None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values()
                if o.is_open and (symbol is None or o.symbol == symbol)]

    def all_orders(self, symbol: str, from_id: int | None, start: int | None,
                   end: int | None, limit: int) -> list[Order]:
        rows = [o for o in self.orders.values() if o.symbol == symbol]
        return _window(rows, lambda o: o.order_id, lambda o: o.time, from_id, start, end, limit)

    def my_trades(self, symbol: str, order_id: int | None, from_id: int | None,
                  start: int | None, end: int | None, limit: int) -> list[Fill]:
        rows = [f for f in self.fills if f.symbol == symbol
                and (order_id is None or f.order_id == order_id)]
        return _window(rows, lambda f: f.trade_id, lambda f: f.time, from_id, start, end, limit)

    # --- events --------------------------------------------------------------------------
    def _emit(self, order: Order, exec_type: str, fill: Fill | None = None,
              cancel_client_id: str = "") -> None:
        event = execution_report(order, exec_type, self.clock(), fill, cancel_client_id)
        for listener in self.user_listeners:
            listener(event)

    def _flush_account(self) -> None:
        if not self._changed:
            return
        event = account_position(self.balances, list(self._changed), self.clock())
        self._changed.clear()
        for listener in self.user_listeners:
            listener(event)


def _window(rows: Iterable[T], key: Callable[[T], int], ts: Callable[[T], int],
               from_id: int | None, start: int | None, end: int | None, limit: int) -> list[T]:
    """Binance's paging: `fromId` -> ids >= it; a time window -> its oldest; else the newest."""
    items = sorted(rows, key=key)
    if from_id is not None:
        return [r for r in items if key(r) >= from_id][:limit]
    if start is not None or end is not None:
        items = [r for r in items if (start is None or ts(r) >= start)
                 and (end is None or ts(r) <= end)]
        return items[:limit] if start is not None else items[-limit:]
    return items[-limit:]
