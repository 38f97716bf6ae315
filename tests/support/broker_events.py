"""What a broker has put on its event queue so far, taken off it: for tests that drive a
broker directly and look at each event it produced."""

from __future__ import annotations

from daemon.events import BrokerEvent
from daemon.venues.base import Broker


def drain(broker: Broker) -> list[BrokerEvent]:
    out = []
    while not broker.events.empty():
        out.append(broker.events.get_nowait())
    return out
