"""Wire stamps for latency benchmarks: when the fake wrote a trade frame, when order requests
arrived and when their answers were ready.

`time.perf_counter_ns()` is CLOCK_MONOTONIC on Linux, the same clock in every process of the
host, so a bench can subtract these from each other whatever process sent the request. Off
(None) unless a bench sets `FakeBinance.stamps`: the tests pay nothing for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

ORDER_PATHS = frozenset({("POST", "/api/v3/order")})
WS_ORDER_METHODS = frozenset({"order.place"})


@dataclass
class WireStamps:
    trades: list[int] = field(default_factory=list)  # trade frames, once written
    orders_in: list[int] = field(default_factory=list)  # order requests, on arrival
    orders_out: list[int] = field(default_factory=list)  # their answers, once ready
    ws_orders_in: list[int] = field(default_factory=list)  # of those, via the ws-api

    def frame_written(self, text: str) -> None:
        if '"e":"trade"' in text:
            self.trades.append(time.perf_counter_ns())

    def rest_in(self, method: str, path: str) -> None:
        if (method, path) in ORDER_PATHS:
            self.orders_in.append(time.perf_counter_ns())

    def rest_out(self, method: str, path: str) -> None:
        if (method, path) in ORDER_PATHS:
            self.orders_out.append(time.perf_counter_ns())

    def ws_in(self, method: str) -> None:
        if method in WS_ORDER_METHODS:
            now = time.perf_counter_ns()
            self.orders_in.append(now)
            self.ws_orders_in.append(now)

    def ws_out(self, method: str) -> None:
        if method in WS_ORDER_METHODS:
            self.orders_out.append(time.perf_counter_ns())

    def clear(self) -> None:
        for stamps in (self.trades, self.orders_in, self.orders_out, self.ws_orders_in):
            stamps.clear()
