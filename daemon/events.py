"""Events a broker reports about orders, as a tagged union the fill handler matches on.

Events are past tense: something already happened at the venue (or the paper account), and the
inventory manager books it. Commands (submit, cancel) are method calls on the broker.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from daemon.model import Fill


class OrderAccepted(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    venue_order_id: str
    ts_ns: int


class OrderRejected(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    reason: str  # a bounded code (metric label), e.g. "insufficient_funds"
    message: str  # the venue's text, for the log only
    ts_ns: int


class OrderCancelled(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str
    ts_ns: int
    reason: str = ""  # "expired": an IOC/FOK order's unfilled rest, not a cancel we asked for


class OrderFilled(msgspec.Struct, frozen=True, tag=True):
    fill: Fill


class FundingPaid(msgspec.Struct, frozen=True, tag=True):
    """A swap's funding settlement, in the margin (quote) currency: > 0 received, < 0 paid.
    `funding_id` is the venue's (Binance's income `tranId`): each is booked once."""

    symbol: str
    funding_id: str
    amount: Decimal
    ts_ns: int


class MarkPriced(msgspec.Struct, frozen=True, tag=True):
    """The venue's mark price of a swap (what its unrealized PnL and liquidation use); from a
    position report also the liquidation price (0: none) and the margin the position holds."""

    symbol: str
    price: Decimal
    ts_ns: int
    liquidation_price: Decimal | None = None
    margin: Decimal | None = None


BrokerEvent = (OrderAccepted | OrderRejected | OrderCancelled | OrderFilled | FundingPaid
               | MarkPriced)
