"""Venue trades to `Fill`s: every trade is checked before it can reach the books.

A trade from the venue (websocket, REST, an order's embedded fills) becomes a `Fill` only with a
trade id, a configured symbol, a known side, a positive finite price and amount, a finite fee
and a readable timestamp. Anything else is dropped, logged once per trade (`fill.malformed`,
with our client id and what was wrong) and counted
(`tradingd_exchange_errors_total{error="MalformedFill"}`); the order is then settled from the
venue's REST record by the broker's normal polling, so one bad message can neither stop the
daemon nor put a NaN into the books.

Fees are booked when paid in the instrument's quote or base currency. A fee in a third currency
(BNB when the account pays fees in BNB) is not converted — there is no price for it here — so it
is left out of PnL: logged once per currency (`fill.fee_unbooked`) and counted once per trade
(`{error="FeeInOtherCurrency"}`). Equity is overstated by those fees.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.clock import Clock
from daemon.model import ZERO, Fill, Instrument, Side
from daemon.ops import log
from daemon.ops.metrics import Metrics

_log = log.get("ccxt_broker")
MS = 1_000_000
SEEN_TRADES = 10_000  # trade ids remembered so that a trade seen twice is counted once


class MalformedTrade(ValueError):
    """What is wrong with a trade, in words fit for the log."""


class FillParser:
    def __init__(self, instruments: dict[str, Instrument], metrics: Metrics,
                 clock: Clock) -> None:
        self._instruments = instruments
        self._metrics = metrics
        self._clock = clock
        # (client id, trade id) already counted: the same trade arrives by websocket and REST
        self._malformed_seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._unbooked_seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._fee_currencies_logged: set[str] = set()

    def fill(self, t: dict[str, Any], client_order_id: str, side: Side | None) -> Fill | None:
        """The trade as a fill of our order `client_order_id`, or None if it is malformed.
        `side`: the side of our order when we know it (a venue's trade record may name the
        taker's side instead, so it is only the fallback)."""
        try:
            return self._fill(t, client_order_id, side)
        except MalformedTrade as err:
            self._malformed(t, client_order_id, str(err))
            return None

    def _fill(self, t: dict[str, Any], coid: str, side: Side | None) -> Fill:
        trade_id = t.get("id")
        if trade_id is None or str(trade_id) == "":
            raise MalformedTrade("no trade id")
        inst = self._instruments.get(str(t.get("symbol") or ""))
        if inst is None:
            raise MalformedTrade(f"symbol {t.get('symbol')!r} is not a configured instrument")
        price = _positive("price", t.get("price"))
        qty = _positive("amount", t.get("amount"))
        if side is None:
            if t.get("side") not in ("buy", "sell"):
                raise MalformedTrade(f"side {t.get('side')!r} is neither buy nor sell")
            side = Side.BUY if t.get("side") == "buy" else Side.SELL
        fee_quote, fee_base = self._fees(t, inst, price, coid)
        return Fill(coid, str(trade_id), inst.symbol, side, qty, price, fee_quote,
                    _timestamp_ns(t.get("timestamp")) or self._clock.now_ns(),
                    fee_base=fee_base)

    def _fees(self, t: dict[str, Any], inst: Instrument, price: Decimal,
              coid: str) -> tuple[Decimal, Decimal]:
        """(fee in quote, fee paid in base) as the books take them."""
        fee = t.get("fee")
        if fee is None:
            return ZERO, ZERO
        if not isinstance(fee, dict):
            raise MalformedTrade(f"fee {fee!r} is not a record")
        if fee.get("cost") is None:
            return ZERO, ZERO
        cost = _finite("fee cost", fee["cost"])
        currency = fee.get("currency")
        if currency == inst.quote:
            return cost, ZERO
        if currency == inst.base:
            return cost * price, cost
        if cost and _first_time(self._unbooked_seen, (coid, str(t.get("id")))):
            self._metrics.exchange_errors.labels("FeeInOtherCurrency").inc()
            name = str(currency)
            if name not in self._fee_currencies_logged:
                self._fee_currencies_logged.add(name)
                _log.warning("fill.fee_unbooked", currency=name, amount=cost,
                             client_order_id=coid, trade_id=str(t.get("id")),
                             symbol=inst.symbol,
                             note=f"fee not in {inst.base} or {inst.quote}: not converted, not "
                                  "in PnL (equity overstated by it); logged once per currency")
        return ZERO, ZERO

    def _malformed(self, t: dict[str, Any], coid: str, problem: str) -> None:
        if not _first_time(self._malformed_seen, (coid, str(t.get("id")))):
            return  # the same trade again (websocket, then REST): counted and logged once
        self._metrics.exchange_errors.labels("MalformedFill").inc()
        _log.error("fill.malformed", client_order_id=coid, trade_id=str(t.get("id")),
                   symbol=str(t.get("symbol")), problem=problem,
                   action="dropped; the order is settled from the venue's REST record")


def _first_time(seen: OrderedDict[tuple[str, str], None], key: tuple[str, str]) -> bool:
    if key in seen:
        return False
    seen[key] = None
    if len(seen) > SEEN_TRADES:
        seen.popitem(last=False)
    return True


def _decimal(what: str, value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        raise MalformedTrade(f"{what} is {value!r}")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MalformedTrade(f"{what} {value!r} is not a number") from None


def _finite(what: str, value: Any) -> Decimal:
    number = _decimal(what, value)
    if not number.is_finite():
        raise MalformedTrade(f"{what} {value!r} is not finite")
    return number


def _positive(what: str, value: Any) -> Decimal:
    number = _finite(what, value)
    if number <= 0:
        raise MalformedTrade(f"{what} {value!r} is not positive")
    return number


def _timestamp_ns(value: Any) -> int | None:
    """The trade's time in ns; None when the venue gave none (the caller stamps it now)."""
    if value is None:
        return None
    ms = _finite("timestamp", value)
    if ms < 0:
        raise MalformedTrade(f"timestamp {value!r} is negative")
    return int(ms) * MS or None
