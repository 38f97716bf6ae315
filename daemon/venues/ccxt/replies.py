"""What a venue's answer must be before the ccxt broker believes it.

ccxt turns almost any HTTP 200 into a result: an HTML page, `{}`, `[1, 2]` or a truncated body
becomes an order with no id (`{"id": None, "info": "<html>..."}`) or a balance with nothing in
it. Believing one would leave an order "working" that the venue may never have seen, end one
that is live, or read an account as empty. So:

- a create's or a lookup's answer is a report of *our* order only if it names a venue order id,
  our client id and symbol, a status ccxt knows, and amounts that are numbers;
- a cancel's answer only if it names a venue order id and a known status (it carries the
  cancel request's own client id, not the order's);
- a list (open orders, trades) only if it is a list of such records; a balance only if the body
  was an object and lists at least one asset (a live account holds its allotted capital).

Anything else raises `MalformedReply`, which the broker handles like a timeout: for a create the
outcome is unknown and the order is looked up by client id (never resent); for anything else
the call failed and is asked again. Each one is counted as the exchange error `MalformedReply`.
"""

from __future__ import annotations

import math
from typing import Any

from daemon.venues.ccxt.client import MalformedReply

STATUSES = frozenset({"open", "closed", "canceled", "cancelled", "expired", "rejected"})
_AMOUNTS = ("amount", "filled", "remaining", "price", "average", "cost")


def order_report(o: Any, client_order_id: str, symbol: str) -> dict[str, Any]:
    """`o` if it is the venue's report of our order `client_order_id` on `symbol`."""
    report = venue_order(o)
    if report.get("clientOrderId") != client_order_id:
        raise MalformedReply(f"the answer names client id {short(report.get('clientOrderId'))}"
                             f", not {client_order_id}")
    if report.get("symbol") != symbol:
        raise MalformedReply(f"the answer names symbol {short(report.get('symbol'))}, "
                             f"not {symbol}")
    return report


def venue_order(o: Any) -> dict[str, Any]:
    """`o` if it reads as an order at all: a venue id, a known status, numeric amounts."""
    if not isinstance(o, dict):
        raise MalformedReply(f"not an order record but {type(o).__name__}")
    venue_id = o.get("id")
    if isinstance(venue_id, bool) or not isinstance(venue_id, str | int) or venue_id == "":
        raise MalformedReply(f"no venue order id (body: {short(o.get('info'))})")
    if o.get("status") not in STATUSES:
        raise MalformedReply(f"unknown order status {short(o.get('status'))}")
    for key in _AMOUNTS:
        value = o.get(key)
        if value is not None and not _non_negative(value):
            raise MalformedReply(f"{key} is {short(value)}, not a number >= 0")
    if o["status"] != "open" and o.get("filled") is None:
        # An end without how much was filled cannot be checked against the trades booked.
        raise MalformedReply(f"order {o['status']} without a filled quantity")
    trades = o.get("trades")
    if trades is not None and not isinstance(trades, list):
        raise MalformedReply(f"trades is {type(trades).__name__}, not a list")
    return o


def order_list(orders: Any) -> list[dict[str, Any]]:
    """A list of orders, every one readable (a list we can only partly read is not acted on:
    a reconciliation would cancel or adopt on half the truth)."""
    if not isinstance(orders, list):
        raise MalformedReply(f"not a list of orders but {type(orders).__name__}")
    return [venue_order(o) for o in orders]


def trade_list(trades: Any) -> list[dict[str, Any]]:
    """A list of trade records; each is validated again when it becomes a fill."""
    if not isinstance(trades, list) or not all(isinstance(t, dict) for t in trades):
        raise MalformedReply(f"not a list of trades but {short(trades)}")
    return trades


def balance(reply: Any) -> dict[str, Any]:
    """A balance that came from an object the venue sent and lists at least one asset."""
    if not isinstance(reply, dict) or not isinstance(reply.get("info"), dict | list) \
            or not reply.get("info"):
        raise MalformedReply("the balance answer is not an object the venue sent")
    total = reply.get("total")
    if not isinstance(total, dict) or not total:
        raise MalformedReply("the balance answer lists no asset")
    return reply


def _non_negative(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value >= 0


def short(value: Any, limit: int = 80) -> str:
    """A bounded rendering for messages: a venue's HTML page must not fill the log."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
