"""The read-only monitoring listener: `/metrics`, `/healthz`, `/readyz` (no secrets, no control).

Control actions live elsewhere on purpose (`ops/control.py`): whoever can read a dashboard must
not be able to flatten the account. The control API opens its listener with the helpers here:
a bind failure named by its config key, the port bound read through aiohttp's public API.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from daemon.config import ConfigError
from daemon.ops.health import HealthState
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


def bound_port(runner: web.BaseRunner, default: int) -> int:
    """The TCP port `runner`'s site listens on (`default` if it has none): the port a listen
    address with port 0 was given."""
    for address in runner.addresses:
        if isinstance(address, tuple):  # (host, port) or (host, port, flowinfo, scope_id)
            return int(address[1])
    return default


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
