"""The read-only monitoring listener: `/metrics`, `/healthz`, `/readyz` (no secrets, no control).

Control actions live elsewhere on purpose (`ops/control.py`): whoever can read a dashboard must
not be able to flatten the account. The listener may face the network, so what it can cost is
bounded: connections through `http_guard` (slow or half-sent requests dropped, at most
`MAX_CONNECTIONS` open), and `/metrics` rendered at most ten times a second whatever the request
rate (`scrape`), so a scrape flood adds at most `FLOOD_LAG_BOUND_S` to the loop's lag.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from daemon.ops import http_guard
from daemon.ops.health import HealthState
from daemon.ops.listen import host_port, listen_error
from daemon.ops.metrics import CONTENT_TYPE, Metrics
from daemon.ops.scrape import Exposition

MAX_CONNECTIONS = 8  # Prometheus servers, a health checker, an operator's curl: with room
# What a flood of requests (any route, up to MAX_CONNECTIONS at once) may add to the event
# loop's lag: one render (~2 ms) and eight requests' handling in one loop iteration at most.
# Documented in the README; tests/system/test_listeners.py holds the daemon to it.
FLOOD_LAG_BOUND_S = 0.005


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
