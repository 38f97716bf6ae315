"""The read-only monitoring listener: `/metrics`, `/healthz`, `/readyz` (no secrets, no control).

Control actions live elsewhere on purpose (seed 003): whoever can read a dashboard must not be
able to flatten the account. The listener may face the network, so what it can cost is bounded:
connections through `http_guard` (slow or half-sent requests dropped, at most
`MAX_CONNECTIONS` open), and `/metrics` rendered at most ten times a second whatever the request
rate (`scrape`), so a scrape flood adds at most `FLOOD_LAG_BOUND_S` to the loop's lag.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator

from aiohttp import web

from daemon import http_guard
from daemon.config import ConfigError
from daemon.metrics import CONTENT_TYPE, Metrics
from daemon.scrape import Exposition

MAX_CONNECTIONS = 8  # Prometheus servers, a health checker, an operator's curl: with room
# What a flood of requests (any route, up to MAX_CONNECTIONS at once) may add to the event
# loop's lag: one render (~2 ms) and eight requests' handling in one loop iteration at most.
# Documented in the README; tests/system/test_listeners.py holds the daemon to it.
FLOOD_LAG_BOUND_S = 0.005


class HealthState:
    """What the health endpoints and systemd are told; written by the daemon, read by the
    HTTP handlers and the health task."""

    def __init__(self) -> None:
        self.loop_alive_ns = time.monotonic_ns()
        self.stale_symbols: frozenset[str] = frozenset()
        self.trading = False  # the trading tasks are running (not starting or shutting down)
        self.connected = False  # market data has arrived for every instrument
        self.halted = False
        # The journal and the venue agree (startup reconciliation passed); never true before.
        # A daemon without a journal (a replay) has nothing to reconcile and sets it at start.
        self.reconciled = False

    def started(self) -> bool:
        """Startup is complete (systemd READY=1): trading tasks run on reconciled books."""
        return self.trading and self.reconciled

    def readiness(self) -> dict[str, bool]:
        """Ready to trade, condition by condition (`/readyz`)."""
        return {
            "trading": self.trading,
            "connected": self.connected,
            "reconciled": self.reconciled,
            "market_data_fresh": self.connected and not self.stale_symbols,
            "not_halted": not self.halted,
        }


def build_app(metrics: Metrics, health: HealthState) -> web.Application:
    exposition = Exposition(metrics.exposition)

    async def metrics_handler(_: web.Request) -> web.Response:
        body = await exposition.get()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = health.readiness()
        ready = all(checks.values())
        metrics.ready.set(1 if ready else 0)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def listen_error(key: str, where: str, err: OSError) -> ConfigError:
    """A listener that cannot bind is a configuration problem (78, no restart loop), named by
    its config key: `metrics.listen: cannot listen on 127.0.0.1:9464: address already in use`.
    """
    if isinstance(err, socket.gaierror) or not err.errno:
        reason = err.strerror or str(err)
    else:
        reason = os.strerror(err.errno)
    return ConfigError(f"{key}: cannot listen on {where}: {reason[:1].lower()}{reason[1:]}")


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextlib.asynccontextmanager
async def serve(metrics: Metrics, health: HealthState, host: str,
                port: int) -> AsyncIterator[int]:
    """Serve until the block exits; yields the bound port (useful when `port` is 0).
    `ConfigError` (`metrics.listen: ...`) if the address cannot be bound."""
    runner = http_guard.runner(build_app(metrics, health))
    await runner.setup()
    guard = http_guard.Guard("monitor", MAX_CONNECTIONS, metrics)
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                server = await stack.enter_async_context(
                    http_guard.serve(runner, guard, host, port))
            except OSError as err:
                raise listen_error("metrics.listen", host_port(host, port), err) from None
            sockets = list(server.sockets)
            yield sockets[0].getsockname()[1] if sockets else port
    finally:
        await runner.cleanup()
