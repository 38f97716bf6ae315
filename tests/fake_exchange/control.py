"""HTTP control endpoints under `/__control/`: the Python operator API, reachable cross-process.

A test whose daemon (or whose fake) runs in another process drives the fake through these;
each maps one-to-one onto a `FakeBinance` / `Faults` method. They bypass fault injection,
signature checks and the `unhandled` list. Bodies and answers are JSON.

    GET  info | balances | orders | trades | order_posts | unhandled
    POST step {n, symbol?} | mid {symbol, price} | advance {n} or {trades}
    POST balances {asset, free, locked?} | clock_skew {ms}
    POST orders/fill {symbol, orderId | clientOrderId, qty?, price?}
    POST orders/cancel {symbol, orderId | clientOrderId}
    POST faults/http {kind: rate_limit|ban|server_error|delay|partition_after|reply|truncate,
                      path, count?, method?, status?, retry_after?, body?, seconds?, process?,
                      content_type?, handle?, keep?}
    POST faults/reject_orders {code?, msg?, count?} | faults/drop_ws | faults/clear
    POST faults/partition {on} | faults/corrupt_user_trades {fields, count?}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import BinanceError

if TYPE_CHECKING:
    from .server import FakeBinance


class Control:
    def __init__(self, fx: FakeBinance) -> None:
        self.fx = fx

    async def dispatch(self, request: web.Request) -> web.Response:
        action = request.match_info["tail"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = json.loads(await request.text() or "{}")
        try:
            if request.method == "GET":
                result = self._get(action)
            else:
                result = await self._post(action, body)
        except KeyError as exc:
            return web.json_response({"error": f"missing or unknown {exc}"}, status=400)
        except (ValueError, BinanceError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    def _get(self, action: str) -> object:
        fx = self.fx
        views = {
            "info": lambda: {"http_base": fx.http_base, "ws_base": fx.ws_base,
                             "api_key": fx.api_key, "api_secret": fx.api_secret,
                             "ccxt_config": fx.ccxt_config()},
            "balances": fx.balances,
            "orders": fx.orders,
            "trades": fx.trades,
            "order_posts": lambda: dict(fx.order_posts),
            "unhandled": lambda: list(fx.unhandled),
        }
        return views[action]()

    async def _post(self, action: str, b: dict[str, Any]) -> object:
        fx, faults = self.fx, self.fx.faults
        if action == "step":
            fx.step(int(b.get("n", 1)), b.get("symbol"))
        elif action == "mid":
            fx.set_mid(b["symbol"], str(b["price"]))
        elif action == "advance":
            if "trades" in b:
                return {"sent": fx.advance_trades(int(b["trades"]))}
            return {"sent": fx.advance(int(b.get("n", 1)))}
        elif action == "balances":
            fx.set_balance(b["asset"], str(b["free"]),
                           None if b.get("locked") is None else str(b["locked"]))
            return fx.balances()
        elif action == "clock_skew":
            fx.clock_skew_ms = int(b["ms"])
        elif action in ("orders/fill", "orders/cancel"):
            ids = {"order_id": b.get("orderId"), "client_order_id": b.get("clientOrderId")}
            if action == "orders/cancel":
                return fx.cancel_order(b["symbol"], **ids)
            return fx.fill_order(b["symbol"], **ids, qty=b.get("qty"), price=b.get("price"))
        elif action == "faults/http":
            self._http_fault(b)
        elif action == "faults/reject_orders":
            faults.reject_orders(int(b.get("code", -2010)), b.get("msg"), int(b.get("count", 1)))
        elif action == "faults/drop_ws":
            return {"dropped": await fx.drop_websockets()}
        elif action == "faults/clear":
            faults.clear()
        elif action == "faults/partition":
            if b["on"]:
                faults.partition()
            else:
                faults.heal()
        elif action == "faults/corrupt_user_trades":
            faults.corrupt_user_trades(dict(b["fields"]), int(b.get("count", 1)))
        else:
            raise KeyError(action)
        return {"ok": True}

    def _http_fault(self, b: dict[str, Any]) -> None:
        faults, kind, path = self.fx.faults, b["kind"], b["path"]
        n, method = int(b.get("count", 1)), b.get("method")
        if kind == "rate_limit":
            faults.rate_limit(path, n, method, int(b.get("retry_after", 1)))
        elif kind == "ban":
            faults.ban(path, n, method, int(b.get("retry_after", 120)))
        elif kind == "server_error":
            faults.server_error(path, n, int(b.get("status", 500)), method, b.get("body"))
        elif kind == "delay":
            faults.delay(path, float(b["seconds"]), n, method, bool(b.get("process", True)))
        elif kind == "partition_after":
            faults.partition_after(path, n, method)
        elif kind == "reply":
            faults.reply(path, str(b["body"]), n, method, int(b.get("status", 200)),
                         str(b.get("content_type", "application/json")),
                         bool(b.get("handle", False)))
        elif kind == "truncate":
            faults.truncate(path, int(b["keep"]), n, method)
        else:
            raise KeyError(kind)
