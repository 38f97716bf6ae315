"""Paper swaps: the margin, funding and liquidation a USDⓈ-M venue applies, for the paper broker.

The paper broker fills; this module keeps what a swap venue keeps besides, from the same fills
(`on_fill`) and the trades the broker sees (`first_stop`, `at_tick`), in `Decimal`:
- *initial margin* (`refuse`): an order that adds exposure is rejected (`insufficient_margin`,
  as Binance's -2019) when the wallet, less the position's unrealized loss, would not cover
  every position's |qty| x entry / leverage afterwards (only for an instrument whose
  `leverage` is configured; unset, positions are margined at 1x, what live sets);
- *funding*: at each settlement time (`FundingSchedule`) a position pays `rate` x its notional
  at the first trade at or after that time (a positive rate: longs pay, shorts receive; by
  default every position pays |rate|), reported as the `FundingPaid` the live venue's income
  becomes, with the id `paper-<symbol>-<time ms>`: the books take it once;
- *liquidation*: at the first trade at or through the position's liquidation price — where its
  backing (isolated: its margin |qty| x entry / leverage; cross: the wallet less the other
  positions' margin) plus its PnL falls to `maintenance_margin_rate` of the notional
  (`risk.liquidation.liquidation_price`) — the position is closed at its bankruptcy price
  (backing + PnL = 0, rounded against us to the tick grid), as Binance closes it: the whole
  backing is lost, the gap between the two prices being the venue's clearance fee. The close
  is a fill with Binance's liquidation client id (`autoclose-<time ms>`) and no further fee;
  resting orders of the symbol are cancelled, as the venue cancels them.
Trades stand in for the venue's mark price. The model sees this process's fills only: a
restarted paper daemon starts its margin account flat (a journaled position is not margined).
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

from daemon.book.lots import Book
from daemon.events import BrokerEvent, FundingPaid, OrderFilled
from daemon.model import Fill, Instrument, PositionView, Side, TickBatch, to_decimal_price
from daemon.ops import log
from daemon.risk.gate import ApprovedOrder
from daemon.risk.liquidation import liquidation_price

_log = log.get("paper")
ZERO = Decimal(0)
MS = 1_000_000
FUNDING_QUANTUM = Decimal("1e-8")  # the venue's income precision


@dataclass(frozen=True)
class SwapTerms:
    leverage: int
    isolated: bool
    # The instrument's `leverage` is configured: orders the venue would refuse for margin are
    # refused. Unset, the position is margined at 1x (what live sets) but nothing is refused:
    # paper configs written before paper swaps kept trading as they did.
    refuse: bool = True


@dataclass(frozen=True)
class Liquidation:
    """What a liquidation cost: `loss` is the realized PnL of the close (negative)."""

    symbol: str
    ts_ns: int
    side: Side  # of the closing fill
    qty: Decimal
    trigger_price: Decimal  # the trade at or through the liquidation price
    liquidation_price: Decimal
    fill_price: Decimal  # the bankruptcy price
    loss: Decimal


@dataclass(frozen=True)
class FundingSchedule:
    """Settlement times and rates: every `interval_s` since the epoch at `rate`, or the
    `recorded` (time ns, rate) pairs, sorted, when a run has them."""

    interval_s: int
    rate: Decimal
    always_paid: bool = True
    recorded: Sequence[tuple[int, Decimal]] = ()

    def after(self, ts_ns: int) -> int | None:
        """The first settlement time later than `ts_ns` (None: no more recorded)."""
        if self.recorded:
            k = bisect.bisect_right(self.recorded, (ts_ns, Decimal("Infinity")))
            return self.recorded[k][0] if k < len(self.recorded) else None
        step = self.interval_s * 1_000_000_000
        return (ts_ns // step + 1) * step

    def amount(self, due_ns: int, position: Decimal, price: Decimal) -> Decimal:
        """What a position pays (< 0) or receives at `due_ns`, rounded against it."""
        if self.recorded:
            k = bisect.bisect_left(self.recorded, (due_ns, Decimal("-Infinity")))
            amount = -position * price * self.recorded[k][1]
        else:
            amount = -position * price * self.rate
            if self.always_paid:
                amount = -abs(amount)
        return amount.quantize(FUNDING_QUANTUM, ROUND_FLOOR)


@dataclass
class _Swap:
    terms: SwapTerms
    book: Book = field(default_factory=Book)
    liq: float = 0.0  # the liquidation price (0: none), for the per-trade scan
    next_due: int | None = -1  # -1: not yet known (set at the first trade seen)


class PaperMargin:
    def __init__(self, terms: dict[str, SwapTerms], instruments: dict[str, Instrument],
                 starting_cash: Decimal, maintenance_margin_rate: Decimal,
                 schedule: FundingSchedule) -> None:
        self._swaps = {s: _Swap(t) for s, t in terms.items()}
        self._instruments = instruments
        self._mmr = maintenance_margin_rate
        self._schedule = schedule
        self.wallet = starting_cash  # starting + realized - fees + funding
        self.pending: list[BrokerEvent] = []  # for the broker to report, in order
        self.liquidated: set[str] = set()  # symbols liquidated since the broker last asked
        self.liquidations: list[Liquidation] = []
        self.funding: list[FundingPaid] = []
        # The liquidation prices need a refresh: the wallet or a position changed. Done when a
        # trade is next screened, not at each fill: a flip's two fills refresh once.
        self._stale = False

    def on_fill(self, fill: Fill) -> None:
        swap = self._swaps.get(fill.symbol)
        if swap is None:
            return
        if not swap.book.qty:  # opened from flat: the settlements from now on, none before
            swap.next_due = self._schedule.after(fill.ts_ns)
        self.wallet += swap.book.apply(fill.signed_qty, fill.price) - fill.fee_quote
        self._stale = True

    def adopt(self, positions: Sequence[PositionView], cash: Decimal) -> None:
        """A restarted paper daemon's books, restored from its journal: margin what they hold
        (one lot at the average price) from a wallet of their cash, so that a journaled
        position is margined, funded and liquidated, and its close is never refused."""
        self.wallet = cash
        for p in positions:
            swap = self._swaps.get(p.symbol)
            if swap is not None and p.qty:
                swap.book = Book()
                swap.book.apply(p.qty, p.avg_price)
                _log.info("paper.margin_adopted", symbol=p.symbol, qty=p.qty, entry=p.avg_price)
        self._stale = True

    def refuse(self, order: ApprovedOrder, touch: tuple[Decimal, Decimal]) -> str | None:
        """Why `order` (at its limit, or the touch) needs more margin than there is."""
        symbol = order.symbol
        swap = self._swaps.get(symbol)
        if swap is None or not swap.terms.refuse or order.reduce_only:
            return None  # a close is never refused
        buy = order.side is Side.BUY
        price = order.limit_price or (touch[1] if buy else touch[0])
        book = swap.book
        after = book.qty + (order.qty if buy else -order.qty)
        if abs(after) <= abs(book.qty) and after * book.qty >= 0:
            return None  # it only reduces
        need = abs(after) * price / swap.terms.leverage + sum(
            (_margin(s) for k, s in self._swaps.items() if k != symbol), ZERO)
        unrealized = book.qty * price - (book.cost if book.qty > 0 else -book.cost)
        # A flip realizes the whole position's PnL first; an addition may not spend a profit.
        available = self.wallet + (unrealized if after * book.qty < 0 else min(unrealized, ZERO))
        if need <= available:
            return None
        return (f"initial margin {need:.2f} would exceed the wallet's {available:.2f} "
                f"(leverage {swap.terms.leverage})")

    def first_stop(self, batch: TickBatch, lo: int, hi: int, low: float = -math.inf,
                   high: float = math.inf) -> int:
        """The first trade in [lo, hi) of `batch` where funding falls due on a position or the
        position is liquidated; `hi` if none. [`low`, `high`] holds the prices of [lo, hi),
        where the caller knows them: a position they cannot liquidate costs no scan."""
        swap = self._swaps.get(batch.symbol)
        if swap is None or not swap.book.qty or lo >= hi:
            return hi
        ts, price = batch.ts_ns, batch.price
        due = self._due(swap, ts[lo])
        stop = hi if due is None or due > ts[hi - 1] else bisect.bisect_left(ts, due, lo, hi)
        liq = self._liquidation_at(swap)
        long = swap.book.qty > 0
        if liq > 0 and (low <= liq if long else high >= liq):
            for i in range(lo, stop):
                if price[i] <= liq if long else price[i] >= liq:
                    return i
        return stop

    def at_tick(self, batch: TickBatch, i: int) -> bool:
        """Settle what falls due by trade `i` and liquidate if it breaches; True if there are
        events to report."""
        swap = self._swaps.get(batch.symbol)
        if swap is None:
            return bool(self.pending)
        ts, price = batch.ts_ns[i], batch.price[i]
        due = self._due(swap, ts)
        while due is not None and due <= ts:
            if swap.book.qty:
                self._settle(batch.symbol, swap, due, to_decimal_price(price))
            due = swap.next_due = self._schedule.after(due)
        liq = self._liquidation_at(swap)
        if liq > 0 and (price <= liq if swap.book.qty > 0 else price >= liq):
            self._liquidate(batch.symbol, swap, to_decimal_price(price), ts)
        return bool(self.pending)

    def walk(self, batch: TickBatch) -> bool:
        """A batch seen whole (live): every stop in it, in order."""
        n = len(batch.price)
        i = self.first_stop(batch, 0, n)
        while i < n:
            self.at_tick(batch, i)
            i = self.first_stop(batch, i + 1, n)
        return bool(self.pending)

    def take(self) -> tuple[list[BrokerEvent], set[str]]:
        """The events to report and the symbols liquidated, handed over once."""
        events, liquidated = self.pending, self.liquidated
        self.pending, self.liquidated = [], set()
        return events, liquidated

    def liquidation_price(self, symbol: str) -> Decimal:
        """The position's liquidation price (0: none or flat)."""
        swap = self._swaps[symbol]
        book = swap.book
        if not book.qty:
            return ZERO
        return liquidation_price(book.qty, book.cost / abs(book.qty),
                                 self._backing(symbol, swap), self._mmr)

    def _due(self, swap: _Swap, ts_ns: int) -> int | None:
        if swap.next_due == -1:
            swap.next_due = self._schedule.after(ts_ns)
        return swap.next_due

    def _settle(self, symbol: str, swap: _Swap, due_ns: int, price: Decimal) -> None:
        amount = self._schedule.amount(due_ns, swap.book.qty, price)
        if not amount:
            return
        paid = FundingPaid(symbol, f"paper-{symbol}-{due_ns // MS}", amount, due_ns)
        self.wallet += amount
        self.funding.append(paid)
        self.pending.append(paid)
        self._stale = True

    def _liquidate(self, symbol: str, swap: _Swap, trigger: Decimal, ts_ns: int) -> None:
        book = swap.book
        qty, entry = book.qty, book.cost / abs(book.qty)
        side = Side.SELL if qty > 0 else Side.BUY
        liq = self.liquidation_price(symbol)
        bankrupt = liquidation_price(qty, entry, self._backing(symbol, swap), ZERO)
        price = self._instruments[symbol].round_price(bankrupt, side)
        fill = Fill(f"autoclose-{ts_ns // MS}", f"liquidation-{ts_ns}", symbol, side, abs(qty),
                    price, ZERO, ts_ns)
        before = self.wallet
        self.on_fill(fill)
        loss = self.wallet - before
        self.liquidations.append(Liquidation(symbol, ts_ns, side, abs(qty), trigger, liq,
                                             price, loss))
        self.pending.append(OrderFilled(fill))
        self.liquidated.add(symbol)
        _log.warning("paper.liquidated", symbol=symbol, qty=qty, trigger_price=trigger,
                     liquidation_price=liq, fill_price=price, loss=loss, ts_ns=ts_ns)

    def _backing(self, symbol: str, swap: _Swap) -> Decimal:
        if swap.terms.isolated:
            return _margin(swap)
        return self.wallet - sum((_margin(s) for k, s in self._swaps.items() if k != symbol),
                                 ZERO)

    def _liquidation_at(self, swap: _Swap) -> float:
        """`swap`'s liquidation price (0: none), refreshed if the wallet or a position
        changed since the last look."""
        if self._stale:
            self._stale = False
            for symbol, each in self._swaps.items():
                each.liq = float(self.liquidation_price(symbol)) if each.book.qty else 0.0
        return swap.liq


def _margin(swap: _Swap) -> Decimal:
    """A position's initial margin: |qty| x entry / leverage (its lots' cost / leverage)."""
    return swap.book.cost / swap.terms.leverage


TIME_COLUMNS = ("time_ms", "timestamp", "fundingTime")  # ours, ccxt's, Binance's
RATE_COLUMNS = ("rate", "fundingRate")


def read_rates(path: Path) -> list[tuple[int, Decimal]]:
    """Recorded funding rates: a CSV with a header naming the settlement time in epoch ms
    (`time_ms`, ccxt's `timestamp` or Binance's `fundingTime`) and the rate (`rate` or
    `fundingRate`), as (time ns, rate) sorted. `ValueError` says what is wrong, and where."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    header = rows[0].keys() if rows else ()
    t = next((c for c in TIME_COLUMNS if c in header), None)
    r = next((c for c in RATE_COLUMNS if c in header), None)
    if t is None or r is None:
        raise ValueError(f"{path}: needs a header with a time column ({', '.join(TIME_COLUMNS)})"
                         f" and a rate column ({', '.join(RATE_COLUMNS)}), and a row")
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            ts, rate = int(row[t]), Decimal(row[r])
        except (ValueError, TypeError, ArithmeticError):
            raise ValueError(f"{path} line {n}: {row[t]!r}, {row[r]!r} is not a time in ms "
                             "and a rate") from None
        if not rate.is_finite() or abs(rate) >= 1 or ts <= 0:
            raise ValueError(f"{path} line {n}: rate {row[r]!r} at {row[t]!r} is out of range")
        out.append((ts * MS, rate))
    out.sort()
    return out
