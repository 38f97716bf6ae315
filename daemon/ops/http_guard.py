"""Bounds on what the daemon's HTTP listeners (monitoring, control) may cost it.

aiohttp alone keeps a connection that sent half a request open forever, one file descriptor
each, and accepts as many as arrive: 300 of them once exhausted a 256-descriptor limit, and the
daemon could no longer save its halt latch. So every listener serves through a `Guard`, which
wraps each connection's protocol:

- a connection that has not sent a whole request head (through its blank line) within
  `HEADER_TIMEOUT_S` of connecting, or of the first byte of its next request, is closed
  (`reason="header_timeout"`); so is one whose head grows past `MAX_HEADER_BYTES`
  (`"header_too_large"`);
- beyond the listener's `max_connections` open at once, a new connection is closed at once,
  before aiohttp sees it (`"limit"`): the descriptors a listener can hold are bounded;
- a keep-alive connection idle for `IDLE_TIMEOUT_S` after its response is closed (aiohttp's
  `keepalive_timeout`, which would otherwise be an hour).

Open connections are gauged (`tradingd_http_connections{listener}`), drops counted
(`tradingd_http_connections_dropped_total{listener,reason}`) and logged at most once per 10 s
(`http.connection_dropped`, then a count). Request bodies are not expected by any route.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

from aiohttp import web

from daemon.ops import log
from daemon.ops.log_limit import LimitedLog
from daemon.ops.metrics import Metrics

_log = log.get("http")
HEADER_TIMEOUT_S = 5.0
IDLE_TIMEOUT_S = 5.0
MAX_HEADER_BYTES = 16 * 1024
_BLANK_LINE = b"\r\n\r\n"


def runner(app: web.Application) -> web.AppRunner:
    """aiohttp's runner for a guarded listener: short keep-alive, a short read of a body no
    route reads, and a stop that does not wait a minute for connections to finish."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_TIMEOUT_S,
                         lingering_time=1.0, shutdown_timeout=2.0)


class Guard:
    """One listener's connection budget and its accounting."""

    def __init__(self, listener: str, max_connections: int, metrics: Metrics) -> None:
        self.listener = listener
        self.max_connections = max_connections
        self.open = 0
        self._gauge = metrics.http_connections.labels(listener)
        self._dropped = metrics.http_dropped
        for reason in ("header_timeout", "header_too_large", "limit"):
            self._dropped.labels(listener, reason)
        self._gauge.set(0)
        self._log = LimitedLog(_log, "http.connection_dropped", burst=1, window_s=10.0)

    def protocol(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for `loop.create_server`: aiohttp's, guarded."""
        return lambda: _Guarded(make(), self)

    def admit(self) -> bool:
        if self.open >= self.max_connections:
            self.drop("limit")
            return False
        self.open += 1
        self._gauge.set(self.open)
        return True

    def release(self) -> None:
        self.open -= 1
        self._gauge.set(self.open)

    def drop(self, reason: str) -> None:
        self._dropped.labels(self.listener, reason).inc()
        self._log.hit(listener=self.listener, reason=reason, open=self.open,
                      max_connections=self.max_connections)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's deadline and size checks."""

    def __init__(self, inner: asyncio.Protocol, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._timer: asyncio.TimerHandle | None = None
        self._head = 0  # bytes of the request head under way (0: none under way)
        self._tail = b""  # its last bytes: a blank line can be split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they are transports.
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard.admit():
            self._transport.abort()  # aiohttp never sees it: no handler, no descriptor kept
            return
        self._admitted = True
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        self._scan(data)
        if self._head > MAX_HEADER_BYTES:
            self._close("header_too_large")
            return
        self._inner.data_received(data)

    def _scan(self, data: bytes) -> None:
        """Follow request heads through the bytes: armed while one is under way."""
        seen = self._tail + data
        end = seen.rfind(_BLANK_LINE)
        if end < 0:
            self._head += len(data)
            rest = seen
        else:
            rest = seen[end + len(_BLANK_LINE):]  # after the last complete head
            self._head = len(rest)
            self._disarm()
        self._tail = rest[-(len(_BLANK_LINE) - 1):]
        if self._head and self._timer is None:
            self._arm()  # the first bytes of the next request: its head gets the same time

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self._guard.release()
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _arm(self) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(
            HEADER_TIMEOUT_S, self._close, "header_timeout")

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self, reason: str) -> None:
        self._disarm()
        self._guard.drop(reason)
        if self._transport is not None:
            self._transport.abort()  # connection_lost follows and releases the slot


@contextlib.asynccontextmanager
async def serve(runner: web.AppRunner, guard: Guard, host: str = "", port: int = 0,
                path: Path | None = None) -> AsyncIterator[asyncio.Server]:
    """Listen on host:port (or the unix socket `path`) until the block exits. `OSError` if
    the address cannot be bound; the caller names its config key."""
    assert runner.server is not None, "runner.setup() first"
    factory = guard.protocol(runner.server)
    loop = asyncio.get_running_loop()
    if path is not None:
        server = await loop.create_unix_server(factory, str(path))
    else:
        server = await loop.create_server(factory, host, port, reuse_address=True)
    try:
        yield server
    finally:
        server.close()
