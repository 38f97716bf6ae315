"""Events a broker reports about orders, as a tagged union the fill handler matches on.

Events are past tense: something already happened at the venue (or the paper account), and the
inventory manager books it. Commands (submit, cancel) are method calls on the broker.
"""

from __future__ import annotations

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


BrokerEvent = OrderAccepted | OrderRejected | OrderCancelled | OrderFilled
