"""The read-only monitoring listener: `/metrics`, `/healthz`, `/readyz` (no secrets, no control).

Control actions live elsewhere on purpose (`ops/control.py`): whoever can read a dashboard must
not be able to flatten the account.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from daemon.ops.health import HealthState
from daemon.ops.listen import bound_port, host_port, listen_error
from daemon.ops.metrics import CONTENT_TYPE, Metrics


def build_app(metrics: Metrics, health: HealthState) -> web.Application:
    async def metrics_handler(_: web.Request) -> web.Response:
        body = metrics.exposition()
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
    runner = web.AppRunner(build_app(metrics, health), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            raise listen_error("metrics.listen", host_port(host, port), err) from None
        yield bound_port(runner, port)
    finally:
        await runner.cleanup()
