"""USDⓈ-M perpetual futures: one-way positions, a USDT wallet, margin, funding, liquidation.

`FuturesEngine` reuses the spot engine's matching (the same public `Book`s, the same order and
fill records, resting orders filled as the book crosses them) and replaces what differs on
Binance futures:
- no asset is locked: an order needs initial margin (notional / leverage) out of the available
  balance (`-2019 Margin is insufficient.`), except an order that only reduces the position;
- `reduceOnly` orders may only shrink the position (`-2022 ReduceOnly Order is rejected.`),
  and a reduce-only fill is clipped to what is left of the position;
- a fill moves the signed position at its average entry price, realizes PnL on the part that
  closes, and charges commission on the notional in USDT;
- the mark price is the book's mid (or what a test set with `set_mark`); funding pays
  `position x mark x rate` every `funding_interval_s` (or on `fund()`); a mark beyond the
  liquidation price closes the position at that price (`liquidate()`, checked on each step);
- `positionSide/dual` (hedge mode) and margin type / leverage are per account / symbol.
Events are Binance's futures user-data events: `ORDER_TRADE_UPDATE` and `ACCOUNT_UPDATE`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from . import errors
from .book import Book
from .engine import EIGHT_DP, Engine, IdSequence
from .errors import BinanceError
from .futures_json import order_trade_update, position_event
from .markets import SymbolSpec, fmt
from .models import ZERO, Fill, Order

MAINT_MARGIN_RATE = Decimal("0.004")  # Binance's first bracket for BTCUSDT
MAX_LEVERAGE = 125


@dataclass
class Position:
    amt: Decimal = ZERO  # signed: long > 0
    entry: Decimal = ZERO
    leverage: int = 20
    margin_type: str = "cross"  # "cross" | "isolated"
    isolated_wallet: Decimal = ZERO  # isolated margin held by the position
    update_time: int = 0


@dataclass
class Income:
    tran_id: int
    symbol: str
    income_type: str  # FUNDING_FEE, REALIZED_PNL, COMMISSION
    income: Decimal
    time: int
    trade_id: str = ""


class FuturesEngine(Engine):
    def __init__(self, specs: dict[str, SymbolSpec], books: dict[str, Book],
                 clock: Callable[[], int], trade_ids: dict[str, IdSequence],
                 maker_fee: Decimal = Decimal("0.0002"),
                 taker_fee: Decimal = Decimal("0.0005"), wallet: Decimal = Decimal(10000)
                 ) -> None:
        super().__init__(specs, books, clock, trade_ids, maker_fee, taker_fee)
        self.wallet = wallet
        self.positions = {s: Position() for s in specs}
        self.dual_side = False
        self.reduce_only: set[int] = set()  # order ids
        self.realized: dict[int, Decimal] = {}  # trade id -> realized PnL of that fill
        self.incomes: list[Income] = []
        self.funding_rate = Decimal("0.0001")
        self.marks: dict[str, Decimal] = {}  # set by a test; else the book's mid
        self.liquidations: list[tuple[str, Decimal, Decimal]] = []  # (symbol, amt, price)
        self._income_ids = IdSequence(1)
        self._account_reason = "ORDER"
        self._changed_positions: set[str] = set()

    # --- prices and margin ---------------------------------------------------------------
    def mark(self, symbol: str) -> Decimal:
        if symbol in self.marks:
            return self.marks[symbol]
        return self.books[symbol].mid() or self.specs[symbol].start_mid

    def unrealized(self, symbol: str) -> Decimal:
        pos = self.positions[symbol]
        return pos.amt * (self.mark(symbol) - pos.entry)

    def initial_margin(self, symbol: str) -> Decimal:
        pos = self.positions[symbol]
        return abs(pos.amt) * self.mark(symbol) / pos.leverage

    def order_margin(self) -> Decimal:
        total = ZERO
        for o in self.open_orders():
            if o.order_id not in self.reduce_only:
                total += o.remaining * o.price / self.positions[o.symbol].leverage
        return total

    def available(self) -> Decimal:
        upnl = sum((self.unrealized(s) for s in self.positions
                    if self.positions[s].margin_type == "cross"), ZERO)
        im = sum((self.initial_margin(s) for s in self.positions), ZERO)
        return self.wallet + upnl - im - self.order_margin()

    def liquidation_price(self, symbol: str) -> Decimal:
        """Binance's one-way formula for one position: where its margin balance reaches the
        maintenance margin. Cross: the whole wallet backs it; isolated: its own margin."""
        pos = self.positions[symbol]
        if not pos.amt:
            return ZERO
        backing = pos.isolated_wallet if pos.margin_type == "isolated" else self.wallet
        price = (pos.entry * pos.amt - backing) / (pos.amt - abs(pos.amt) * MAINT_MARGIN_RATE)
        return max(price, ZERO).quantize(Decimal("0.01"))

    # --- account settings ----------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> None:
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        self.positions[symbol].leverage = leverage

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        pos = self.positions[symbol]
        wanted = {"ISOLATED": "isolated", "CROSSED": "cross"}.get(margin_type)
        if wanted is None:
            raise BinanceError(-1116, "Invalid marginType.")
        if wanted == pos.margin_type:
            raise BinanceError(-4046, "No need to change margin type.")
        if pos.amt or self.open_orders(symbol):
            raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
        pos.margin_type = wanted

    # --- order entry ---------------------------------------------------------------------
    def place_futures(self, symbol: str, side: str, type_: str, qty: Decimal | None,
                      price: Decimal | None, tif: str | None, client_id: str,
                      reduce_only: bool) -> Order:
        try:
            return self._place_futures(symbol, side, type_, qty, price, tif, client_id,
                                       reduce_only)
        except BinanceError as exc:
            self.rejections.append((client_id, exc.code, exc.msg))
            raise

    def _place_futures(self, symbol: str, side: str, type_: str, qty: Decimal | None,
                       price: Decimal | None, tif: str | None, client_id: str,
                       reduce_only: bool) -> Order:
        spec = self.specs.get(symbol)
        if spec is None:
            raise errors.invalid_symbol()
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if type_ not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        if qty is None:
            raise errors.mandatory("quantity")
        if type_ == "MARKET":
            price, tif = None, "GTC"
        else:
            if price is None:
                raise errors.mandatory("price")
            tif = tif or "GTC"
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        key = (symbol, client_id)
        if key in self._by_client:
            raise BinanceError(-4015, "Client order id is not valid.")
        if self.forced_rejects:
            raise self.forced_rejects.popleft()
        pos = self.positions[symbol]
        if reduce_only and (not pos.amt or (pos.amt > 0) == (side == "BUY")):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")
        book = self.books[symbol]
        ref = self.mark(symbol)
        spec.check_order(type_, qty, price, ref)
        if not reduce_only and qty * (price or ref) < spec.min_notional:
            raise BinanceError(-4164, f"Order's notional must be no smaller than "
                               f"{spec.min_notional} (unless you choose reduce only).")
        plan = self._plan(book, side, price, qty, None, spec)
        if tif == "GTX" and plan:
            raise BinanceError(-5022, "Due to the order could not be executed as maker, the "
                               "Post Only order will be rejected.")
        if tif == "FOK" and sum((q for _, q in plan), ZERO) < qty:
            raise BinanceError(-5021, "Due to the order could not be filled immediately, the "
                               "FOK order has been rejected.")
        if not reduce_only and self._adds(symbol, side, qty):
            need = qty * (price or ref) / pos.leverage
            if need > self.available():
                raise BinanceError(-2019, "Margin is insufficient.")
        now = self.clock()
        order = Order(symbol=symbol, order_id=self._order_ids.next(), client_order_id=client_id,
                      side=side, type=type_, time_in_force=tif, price=price or ZERO,
                      orig_qty=qty, orig_quote_qty=ZERO, time=now, update_time=now)
        self.orders[order.order_id] = order
        self._by_client[key] = order.order_id
        if reduce_only:
            self.reduce_only.add(order.order_id)
        self._emit(order, "NEW")
        for p, q in plan:
            q = self._clip(order, q)
            if q <= 0:
                break
            self._execute(order, p, q, maker=False)
        if order.is_open and (type_ == "MARKET" or tif in ("IOC", "FOK")):
            self._finish(order, "EXPIRED")
        self._flush_account()
        return order

    def _adds(self, symbol: str, side: str, qty: Decimal) -> bool:
        amt = self.positions[symbol].amt
        signed = qty if side == "BUY" else -qty
        return abs(amt + signed) > abs(amt)

    def _clip(self, order: Order, qty: Decimal) -> Decimal:
        """A reduce-only order never fills beyond the position it reduces."""
        if order.order_id not in self.reduce_only:
            return qty
        amt = self.positions[order.symbol].amt
        if not amt or (amt > 0) == (order.side == "BUY"):
            return ZERO
        return min(qty, abs(amt))

    # Spot's balance locking does not exist on futures: margin is computed, not held.
    def _lock(self, spec: SymbolSpec, order: Order) -> None:
        return None

    def _unlock_rest(self, order: Order) -> None:
        return None

    def _execute(self, order: Order, price: Decimal, qty: Decimal, maker: bool,
                 consume: bool = True) -> Fill:
        now = self.clock()
        rate = self.maker_fee if maker else self.taker_fee
        quote = qty * price
        fee = (quote * rate).quantize(EIGHT_DP, ROUND_HALF_UP)
        realized = self._move_position(order.symbol, qty if order.side == "BUY" else -qty,
                                       price, now)
        self.wallet += realized - fee
        fill = Fill(trade_id=self.trade_ids[order.symbol].next(), order_id=order.order_id,
                    symbol=order.symbol, price=price, qty=qty, quote_qty=quote, commission=fee,
                    commission_asset="USDT", time=now, is_buyer=order.side == "BUY",
                    is_maker=maker)
        self.realized[fill.trade_id] = realized
        if realized:
            self._income(order.symbol, "REALIZED_PNL", realized, now, str(fill.trade_id))
        self._income(order.symbol, "COMMISSION", -fee, now, str(fill.trade_id))
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

    def _move_position(self, symbol: str, signed: Decimal, price: Decimal, now: int) -> Decimal:
        """Apply a fill to the one-way position; return the PnL it realized."""
        pos = self.positions[symbol]
        realized = ZERO
        if pos.amt and (pos.amt > 0) != (signed > 0):
            closed = min(abs(pos.amt), abs(signed))
            realized = closed * (price - pos.entry) * (1 if pos.amt > 0 else -1)
            if pos.isolated_wallet:
                pos.isolated_wallet -= pos.isolated_wallet * closed / abs(pos.amt)
            new_amt = pos.amt + signed
            if not new_amt:
                pos.entry, pos.isolated_wallet = ZERO, ZERO
            elif (new_amt > 0) != (pos.amt > 0):  # flipped: the rest opens at this price
                pos.entry = price
                pos.isolated_wallet = self._isolated(pos, abs(new_amt) * price)
            pos.amt = new_amt
        else:
            new_amt = pos.amt + signed
            pos.entry = (pos.entry * abs(pos.amt) + price * abs(signed)) / abs(new_amt)
            pos.isolated_wallet += self._isolated(pos, abs(signed) * price)
            pos.amt = new_amt
        pos.update_time = now
        self._changed_positions.add(symbol)
        return realized.quantize(EIGHT_DP, ROUND_HALF_UP)

    @staticmethod
    def _isolated(pos: Position, notional: Decimal) -> Decimal:
        return notional / pos.leverage if pos.margin_type == "isolated" else ZERO

    def _income(self, symbol: str, kind: str, amount: Decimal, now: int,
                trade_id: str = "") -> None:
        self.incomes.append(Income(self._income_ids.next(), symbol, kind, amount, now,
                                   trade_id))

    def match_resting(self, symbol: str) -> list[Fill]:
        fills = super().match_resting(symbol)
        self.liquidate(symbol)
        return fills

    # --- funding and liquidation ---------------------------------------------------------
    def fund(self, rate: Decimal | None = None) -> list[Income]:
        """One funding settlement: every open position pays (or gets) amt x mark x rate."""
        rate = self.funding_rate if rate is None else rate
        now = self.clock()
        paid = []
        for symbol, pos in self.positions.items():
            if not pos.amt:
                continue
            amount = (-pos.amt * self.mark(symbol) * rate).quantize(EIGHT_DP, ROUND_HALF_UP)
            self.wallet += amount
            self._income(symbol, "FUNDING_FEE", amount, now)
            paid.append(self.incomes[-1])
            self._changed_positions.add(symbol)
        if paid:
            self._account_reason = "FUNDING_FEE"
            self._changed.add("USDT")
            self._flush_account()
        return paid

    def liquidate(self, symbol: str) -> bool:
        """Close the position at its liquidation price once the mark has crossed it."""
        pos = self.positions[symbol]
        liq = self.liquidation_price(symbol)
        if not pos.amt or not liq:
            return False
        mark = self.mark(symbol)
        if (pos.amt > 0 and mark > liq) or (pos.amt < 0 and mark < liq):
            return False
        amt = pos.amt
        now = self.clock()
        realized = self._move_position(symbol, -amt, liq, now)
        self.wallet += realized
        self._income(symbol, "INSURANCE_CLEAR", realized, now)
        self.liquidations.append((symbol, amt, liq))
        self._account_reason = "ORDER"
        self._changed.add("USDT")
        self._flush_account()
        return True

    # --- events --------------------------------------------------------------------------
    def _emit(self, order: Order, exec_type: str, fill: Fill | None = None,
              cancel_client_id: str = "") -> None:
        event = order_trade_update(order, exec_type, self.clock(), fill,
                                   order.order_id in self.reduce_only,
                                   self.realized.get(fill.trade_id, ZERO) if fill else ZERO)
        for listener in self.user_listeners:
            listener(event)

    def _flush_account(self) -> None:
        if not self._changed_positions and not self._changed:
            return
        now = self.clock()
        event = {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": self._account_reason,
            "B": [{"a": "USDT", "wb": fmt(self.wallet), "cw": fmt(self.wallet), "bc": "0"}],
            "P": [position_event(s, self.positions[s], self.unrealized(s))
                  for s in sorted(self._changed_positions)]}}
        self._changed.clear()
        self._changed_positions.clear()
        self._account_reason = "ORDER"
        for listener in self.user_listeners:
            listener(event)

    def set_balance(self, asset: str, free: Decimal, locked: Decimal | None = None) -> None:
        self.wallet = free
        self._changed.add(asset)
        self._account_reason = "DEPOSIT"
        self._flush_account()
