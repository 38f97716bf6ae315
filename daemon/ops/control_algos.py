"""The control API's routes for execution algorithms: `POST /algos/twap`, `POST /algos/pov`,
`GET /algos`, `POST /algos/{id}/cancel`. Behind the same bearer-token middleware as every
control route (`control.build_app`): without the token nothing here runs.

A request body is decoded strictly (unknown fields refused, each error names its field); a
parent the engine refuses (unknown symbol, trading not active, too many working) is a 409 with
the reason. An operator's parent is worked like a strategy's: every child through the gate.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from aiohttp import web

from daemon.execution.algos.engine import AlgoEngine, AlgoRefused
from daemon.model import Algo, ParentOrder, Side
from daemon.risk.supervisor import RiskSupervisor


class TwapRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    side: Side
    qty: Decimal
    duration_s: float
    slices: int = 10
    limit_at_touch: bool = False
    seed: int = 0


class PovRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    side: Side
    qty: Decimal
    rate: Decimal
    duration_s: float = 3600.0


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json")


def add_routes(app: web.Application, algos: AlgoEngine, supervisor: RiskSupervisor) -> None:
    async def start(request: web.Request, spec: ParentOrder) -> web.Response:
        if supervisor.stopping:
            return _json({"error": "the daemon is shutting down"}, 409)
        try:
            parent = await algos.start(spec, "operator")
        except AlgoRefused as err:
            return _json({"error": str(err)}, 409)
        return _json(parent.status(), 202)

    async def twap(request: web.Request) -> web.Response:
        try:
            req = msgspec.json.decode(await request.read(), type=TwapRequest)
        except msgspec.DecodeError as err:
            return _json({"error": str(err)}, 400)
        return await start(request, ParentOrder(
            req.symbol, req.side, req.qty, Algo.TWAP, req.duration_s, req.slices,
            req.limit_at_touch, seed=req.seed))

    async def pov(request: web.Request) -> web.Response:
        try:
            req = msgspec.json.decode(await request.read(), type=PovRequest)
        except msgspec.DecodeError as err:
            return _json({"error": str(err)}, 400)
        return await start(request, ParentOrder(
            req.symbol, req.side, req.qty, Algo.POV, req.duration_s, rate=req.rate))

    async def listing(_: web.Request) -> web.Response:
        return _json({"algos": algos.status()})

    async def cancel(request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        if not await algos.cancel(pid, "operator: cancel-algo"):
            return _json({"error": f"no working parent order {pid[:40]!r}"}, 404)
        return _json({"id": pid, "state": "cancelled"})

    app.router.add_post("/algos/twap", twap)
    app.router.add_post("/algos/pov", pov)
    app.router.add_get("/algos", listing)
    app.router.add_post("/algos/{id}/cancel", cancel)
