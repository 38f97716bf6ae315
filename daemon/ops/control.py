"""The operator control API: `GET /status`, `POST /halt`, `POST /resume`, `POST /flatten`, and
the execution algorithms' routes (`control_algos`: `/algos...`).

Kept apart from monitoring on purpose: `monitor.py` serves read-only metrics to anyone who can
reach it; this listener changes what the daemon does, so it binds only to loopback or a unix
socket under the state directory (mode 0600), and every request needs the bearer token. A
request without it gets 401 before any route runs, and nothing happens. Handlers only change
the supervisor's state; the cancel and flatten run in the supervisor's task.

Refusals are counted (`tradingd_control_unauthorized_total`) but logged at most one line per
`UNAUTHORIZED_LOG_S` plus a count of the rest (`control.unauthorized_suppressed`): a local user
must not be able to flood the log. Connections are bounded like monitoring's (`http_guard`).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
from aiohttp import web

from daemon.config import Config, ConfigError, resolve_path
from daemon.execution.algos.engine import AlgoEngine
from daemon.ops import control_algos, control_token, http_guard, log
from daemon.ops.listen import host_port, listen_error
from daemon.ops.log_limit import LimitedLog
from daemon.ops.metrics import Metrics
from daemon.risk.supervisor import RiskSupervisor

_log = log.get("control")
# sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_UNIX_PATH = 107
MAX_CONNECTIONS = 8  # `tradingd ctl` sends one request at a time
UNAUTHORIZED_LOG_S = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def socket_path(config: Config) -> Path | None:
    """The unix socket the API listens on, or None for TCP; `ConfigError` if too long."""
    if not config.control.unix:
        return None
    path = resolve_path(config, config.daemon.state_dir) / config.control.unix
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise ConfigError(f"control.unix: socket path {path} is longer than "
                          f"{MAX_UNIX_PATH} bytes")
    return path


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json")


def build_app(supervisor: RiskSupervisor, token: str, metrics: Metrics,
              algos: AlgoEngine | None = None) -> web.Application:
    refused = LimitedLog(_log, "control.unauthorized", burst=1, window_s=UNAUTHORIZED_LOG_S)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not control_token.authorized(request.headers.get("Authorization", ""), token):
            metrics.control_unauthorized.inc()
            refused.hit(method=request.method, path=request.path[:100])
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="tradingd"'})
        response = await handler(request)
        _log.info("control.request", method=request.method, path=request.path,
                  status=response.status)
        return response

    async def status(_: web.Request) -> web.Response:
        return _json(supervisor.status())

    async def halt(_: web.Request) -> web.Response:
        changed = supervisor.halt("control_api", "kill_switch", "POST /halt")
        return _json({"state": supervisor.status()["state"], "changed": changed,
                      "flatten": "requested"})

    async def resume(_: web.Request) -> web.Response:
        refused = supervisor.resume("control_api")
        if refused is not None:
            return _json({"error": refused, "state": supervisor.status()["state"]}, 409)
        return _json({"state": supervisor.status()["state"]})

    async def flatten(_: web.Request) -> web.Response:
        if supervisor.stopping:
            return _json({"error": "the daemon is shutting down (and flattening)"}, 409)
        state = supervisor.flatten("control_api")
        return _json({"state": state.value, "flatten": "requested"}, 202)

    app = web.Application(middlewares=[authenticate], client_max_size=4096)
    app.router.add_get("/status", status)
    app.router.add_post("/halt", halt)
    app.router.add_post("/resume", resume)
    app.router.add_post("/flatten", flatten)
    if algos is not None:
        control_algos.add_routes(app, algos, supervisor)
    return app


@contextlib.asynccontextmanager
async def serve(supervisor: RiskSupervisor, config: Config, token: str | None,
                metrics: Metrics, algos: AlgoEngine | None = None
                ) -> AsyncIterator[str | None]:
    """Serve until the block exits; yields where it listens (None when control is disabled)."""
    if not config.control.enabled or token is None:
        yield None
        return
    runner = http_guard.runner(build_app(supervisor, token, metrics, algos))
    await runner.setup()
    path = socket_path(config)
    guard = http_guard.Guard("control", MAX_CONNECTIONS, metrics)
    c = config.control
    try:
        async with contextlib.AsyncExitStack() as stack:
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with contextlib.suppress(FileNotFoundError):
                        if stat.S_ISSOCK(path.lstat().st_mode):
                            path.unlink()  # left behind by a run that did not exit cleanly
                    await stack.enter_async_context(http_guard.serve(runner, guard, path=path))
                except OSError as err:
                    raise listen_error("control.unix", str(path), err) from None
                path.chmod(0o600)
                where = f"unix:{path}"
            else:
                try:
                    server = await stack.enter_async_context(
                        http_guard.serve(runner, guard, c.host, c.port))
                except OSError as err:
                    raise listen_error("control.listen", host_port(
                        c.host, c.port), err) from None
                sockets = list(server.sockets)
                port = sockets[0].getsockname()[1] if sockets else c.port
                where = f"http://{c.host}:{port}"
            _log.info("control.listening", address=where,
                      port=None if path is not None else port)
            yield where
    finally:
        await runner.cleanup()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
