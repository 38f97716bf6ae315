"""Fault injection: scripted HTTP status codes, stalls, forced order rejects, a network
partition, corrupted user-data trade reports, and answers that are not what they should be
(a 200 whose body is arbitrary text: not JSON, the wrong shape, a truncated answer).

Tests arm rules ("the next N `POST /api/v3/order` get a 429"); the HTTP middleware consults
`take()` on every non-control request and the first live rule for that method+path fires
once and counts down. Bodies and headers are Binance's, because ccxt's mapping depends on
them: 418/429 become DDoSProtection whatever the body says, while a 5xx is mapped by status
(ExchangeNotAvailable) only when the body is not a Binance JSON error.

A partition (`partition()` until `heal()`, or `partition_after()`: this request takes effect,
then the network goes) cuts the client off entirely: every HTTP connection is dropped before it
is handled (ccxt: ExchangeNotAvailable), every websocket is severed with whatever it had queued,
new websockets are refused, and user-data events meanwhile are lost, as they would be.

Websocket drops and operator actions live on the server object; they act immediately.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BinanceError


@dataclass
class HttpFault:
    path: str  # exact request path ("/api/v3/order"), or "*" for any non-control path
    method: str | None  # "POST", ...; None matches any
    remaining: int
    status: int | None = None  # answer with this status instead of handling the request
    body: str = ""
    retry_after: int | None = None
    delay_s: float = 0.0  # stall this long before answering
    # with a delay: handle the request first (so it takes effect: the order IS created) and
    # only then stall - the "timed out but succeeded" case. False: stall, then handle.
    process: bool = True
    content_type: str = "application/json"
    # handle the request (it takes effect), then partition the network: the answer is lost
    partition: bool = False
    # with a status: handle the request first (it takes effect: an order IS placed) and answer
    # with the fault's status and body instead of the real answer
    handle: bool = False
    # with `handle`: answer with the real body cut after this many bytes instead of `body`
    truncate: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.remaining > 0 and (self.path in ("*", path))
                and (self.method is None or self.method == method))


RATE_LIMIT_MSG = ("Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                  "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                  "the API.")
BAN_MSG = ("Way too many requests; IP(127.0.0.1) banned until {until}. Please use WebSocket "
           "Streams for live updates to avoid bans.")
GATEWAY_BODY = "<html><head><title>{status}</title></head><body>{status}</body></html>"


class Faults:
    def __init__(self) -> None:
        self.http: list[HttpFault] = []
        self.fired: list[tuple[str, str, str]] = []  # (method, path, what) for assertions
        # the engine pops from this very deque (the server hands it over at construction)
        self.forced_rejects: deque[BinanceError] = deque()
        self.partitioned = False
        self.on_partition: list[Callable[[], None]] = []  # the server severs its websockets
        # executionReport fields to overwrite in the next N TRADE reports: [remaining, fields]
        self.corrupt_trades: list[tuple[list[int], dict[str, object]]] = []
        # public stream suffixes ("@trade") whose messages are not sent: a socket that stays
        # connected but goes quiet, while REST still answers
        self.muted_streams: set[str] = set()
        # ws-api methods ("order.place") whose next N requests take effect unanswered
        self.ws_unanswered: Counter[str] = Counter()

    def add(self, fault: HttpFault) -> HttpFault:
        self.http.append(fault)
        return fault

    def rate_limit(self, path: str, n: int = 1, method: str | None = None,
                   retry_after: int = 1) -> HttpFault:
        """HTTP 429 + Retry-After + -1003, as Binance sends when the weight limit is hit."""
        body = BinanceError(-1003, RATE_LIMIT_MSG, 429).json()
        return self.add(HttpFault(path, method, n, 429, body, retry_after))

    def ban(self, path: str, n: int = 1, method: str | None = None,
            retry_after: int = 120, until_ms: int = 0) -> HttpFault:
        """HTTP 418 (IP auto-banned after ignoring 429s) + Retry-After."""
        body = BinanceError(-1003, BAN_MSG.format(until=until_ms), 418).json()
        return self.add(HttpFault(path, method, n, 418, body, retry_after))

    def server_error(self, path: str, n: int = 1, status: int = 500, method: str | None = None,
                     body: str | None = None) -> HttpFault:
        """A 5xx from Binance's edge: an HTML page unless a (JSON) `body` is given."""
        if body is None:
            return self.add(HttpFault(path, method, n, status, GATEWAY_BODY.format(
                status=status), content_type="text/html"))
        return self.add(HttpFault(path, method, n, status, body))

    def reply(self, path: str, body: str, n: int = 1, method: str | None = None,
              status: int = 200, content_type: str = "application/json",
              handle: bool = False) -> HttpFault:
        """Answer with `status` (200) and this body whatever the request was: a gateway's HTML
        page, JSON of the wrong shape, `abc` where a number belongs. `handle`: the request takes
        effect first (the order is placed; only its answer is garbage)."""
        return self.add(HttpFault(path, method, n, status, body, content_type=content_type,
                                  handle=handle))

    def truncate(self, path: str, keep: int, n: int = 1,
                 method: str | None = None) -> HttpFault:
        """Handle the request (it takes effect) and answer 200 with the first `keep` bytes of
        the real body: a connection cut mid-answer behind a proxy that still said 200."""
        return self.add(HttpFault(path, method, n, 200, handle=True, truncate=keep))

    def delay(self, path: str, seconds: float, n: int = 1, method: str | None = None,
              process: bool = True) -> HttpFault:
        """Answer only after `seconds` (set it above the client timeout)."""
        return self.add(HttpFault(path, method, n, delay_s=seconds, process=process))

    def partition(self) -> None:
        """Cut the client off (see the module docstring) until `heal()`."""
        self.partitioned = True
        for sever in self.on_partition:
            sever()

    def heal(self) -> None:
        self.partitioned = False

    def partition_after(self, path: str, n: int = 1, method: str | None = None) -> HttpFault:
        """The next matching request takes effect, then the network partitions before its
        answer (and the user-data events it caused) can reach the client."""
        return self.add(HttpFault(path, method, n, partition=True))

    def corrupt_user_trades(self, fields: dict[str, object], count: int = 1) -> None:
        """Overwrite `fields` (executionReport keys, e.g. {"L": "0"} for the price, {"n":
        "NaN"} for the commission) in the next `count` TRADE reports of the user-data stream;
        REST is untouched."""
        self.corrupt_trades.append(([count], dict(fields)))

    def corrupted(self, event: dict[str, object]) -> dict[str, object]:
        """The user-data event as it goes out: a TRADE report may be corrupted."""
        if event.get("e") != "executionReport" or event.get("x") != "TRADE":
            return event
        for remaining, fields in self.corrupt_trades:
            if remaining[0] > 0:
                remaining[0] -= 1
                self.fired.append(("WS", "executionReport", f"corrupt={sorted(fields)}"))
                return {**event, **fields}
        return event

    def reject_orders(self, code: int = -2010, msg: str | None = None, n: int = 1) -> None:
        """Reject the next `n` order placements that pass parameter checks."""
        default = {
            -2010: "Account has insufficient balance for requested action.",
            -1013: "Filter failure: LOT_SIZE",
        }
        text = msg if msg is not None else default.get(code, "Order rejected by fault injection.")
        self.forced_rejects.extend(BinanceError(code, text) for _ in range(n))

    def take(self, method: str, path: str) -> HttpFault | None:
        for fault in self.http:
            if fault.matches(method, path):
                fault.remaining -= 1
                what = f"status={fault.status}" if fault.status else (
                    "partition" if fault.partition else f"delay={fault.delay_s}")
                self.fired.append((method, path, what))
                return fault
        return None

    def clear(self) -> None:
        """Disarm every rule and heal a partition."""
        self.http.clear()
        self.forced_rejects.clear()
        self.corrupt_trades.clear()
        self.muted_streams.clear()
        self.partitioned = False
