"""Spot REST API (`/api/v3/...`): request parsing, security levels and the endpoint handlers.

One catch-all route dispatches on (method, path) through `ROUTES`, which is what makes
"anything not implemented" easy to catch: it gets a Binance-shaped 404 and lands in
`fx.unhandled`. Before dispatch the request passes fault injection (`faults.py`), and
`POST /api/v3/order` arrivals are counted per clientOrderId whatever happens next (a request
dropped by a partition never arrived and is not counted). Every request is logged with its
monotonic arrival time in `fx.request_log`.
Security follows Binance: NONE, USER_STREAM (API key only) or SIGNED (key + HMAC + timestamp).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from . import errors
from .errors import BinanceError
from .markets import exchange_info, select_symbols
from .models import Order, cancel_json, my_trade_json, new_order_json, order_json

if TYPE_CHECKING:
    from .server import FakeBinance

Params = dict[str, str]
INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000}


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _int(params: Params, name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise errors.illegal(name) from exc


def _dec(params: Params, name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise errors.illegal(name) from exc
    if not value.is_finite() or value <= 0:
        raise errors.illegal(name)
    return value


def _req(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise errors.mandatory(name)
    return value


class RestApi:
    def __init__(self, fx: FakeBinance, extra_routes: Routes | None = None) -> None:
        self.fx = fx
        self.extra_routes = extra_routes or {}  # the futures API (fapi_routes.py)

    # --- dispatch ------------------------------------------------------------------------
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        fx, path, method = self.fx, request.path, request.method
        stamps = fx.stamps
        if stamps is None:
            return await self._dispatch(request, fx, path, method)
        stamps.rest_in(method, path)
        try:
            return await self._dispatch(request, fx, path, method)
        finally:
            stamps.rest_out(method, path)

    async def _dispatch(self, request: web.Request, fx: FakeBinance, path: str,
                        method: str) -> web.StreamResponse:
        fx.requests.append(f"{method} {path}")
        fx.request_log.append((time.monotonic(), method, path))
        if fx.faults.partitioned:
            fx.faults.fired.append((method, path, "dropped"))
            return _drop(request)  # never reached the venue
        if request.headers.get("Upgrade", "").lower() == "websocket":
            fx.record_unhandled(f"WS {path}")
            return _error_response(errors.unknown_endpoint(path))
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params: Params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        if method == "POST" and path in ("/api/v3/order", "/fapi/v1/order"):
            fx.order_posts[params.get("newClientOrderId", "")] += 1
        fault = fx.faults.take(method, path)
        if fault is not None and fault.status is None and not fault.process:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.status is not None and not fault.handle:
            await asyncio.sleep(fault.delay_s)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return web.Response(status=fault.status, text=fault.body, headers=headers,
                                content_type=fault.content_type)
        response = self._handle(request, method, path, params, raw_query, raw_body)
        if fault is not None and fault.handle:  # it took effect; the answer is replaced
            body = fault.body if fault.truncate is None else (response.text or "")[
                :fault.truncate]
            return web.Response(status=fault.status or 200, text=body,
                                content_type=fault.content_type)
        if fault is not None and fault.partition:
            fx.faults.partition()  # it took effect; the network goes before the answer
            return _drop(request)
        if fault is not None and fault.process:
            await asyncio.sleep(fault.delay_s)  # the request took effect; the answer is late
        return response

    def _handle(self, request: web.Request, method: str, path: str, params: Params,
                raw_query: str, raw_body: str) -> web.Response:
        route = ROUTES.get((method, path)) or self.extra_routes.get((method, path))
        try:
            if route is None:
                self.fx.record_unhandled(f"{method} {path}")
                raise errors.unknown_endpoint(path)
            security, handler = route
            key = request.headers.get("X-MBX-APIKEY")
            if security == "SIGNED":
                self.fx.auth.verify_rest(key, raw_query, raw_body, params)
            elif security == "USER_STREAM":
                self.fx.auth.check_api_key(key)
            result = handler(self, params)
        except BinanceError as exc:
            return _error_response(exc)
        return web.Response(text=dumps(result), content_type="application/json")

    # --- general / market data -------------------------------------------------------------
    def ping(self, p: Params) -> object:
        return {}

    def time(self, p: Params) -> object:
        return {"serverTime": self.fx.now_ms()}

    def exchange_info(self, p: Params) -> object:
        specs = select_symbols(self.fx.specs, p.get("symbol"), p.get("symbols"))
        return exchange_info({s.symbol: s for s in specs}, self.fx.now_ms())

    def depth(self, p: Params) -> object:
        market = self.fx.market(_req(p, "symbol"))
        limit = _int(p, "limit", 100) or 100
        return market.book.snapshot(min(limit, 5000))

    def trades(self, p: Params) -> object:
        market = self.fx.market(_req(p, "symbol"))
        limit = min(_int(p, "limit", 500) or 500, 1000)
        return [{"id": t.trade_id, "price": f"{t.price:.8f}", "qty": f"{t.qty:.8f}",
                 "quoteQty": f"{t.price * t.qty:.8f}", "time": t.time,
                 "isBuyerMaker": t.buyer_maker, "isBestMatch": True}
                for t in market.tape.select(_int(p, "fromId"), None, None, limit)]

    def agg_trades(self, p: Params) -> object:
        market = self.fx.market(_req(p, "symbol"))
        limit = min(_int(p, "limit", 500) or 500, 1000)
        rows = market.tape.select(_int(p, "fromId"), _int(p, "startTime"), _int(p, "endTime"),
                                  limit)
        return [{"a": t.trade_id, "p": f"{t.price:.8f}", "q": f"{t.qty:.8f}",
                 "f": t.trade_id, "l": t.trade_id, "T": t.time, "m": t.buyer_maker, "M": True}
                for t in rows]

    def klines(self, p: Params) -> object:
        market = self.fx.market(_req(p, "symbol"))
        interval = INTERVALS_MS.get(_req(p, "interval"))
        if interval is None:
            raise BinanceError(-1120, "Invalid interval.")
        limit = min(_int(p, "limit", 500) or 500, 1000)
        return market.tape.klines(interval, _int(p, "startTime"), _int(p, "endTime"), limit)

    def _tickers(self, p: Params, render: Callable[[str], object]) -> object:
        specs = select_symbols(self.fx.specs, p.get("symbol"), p.get("symbols"))
        rows = [render(s.symbol) for s in specs]
        return rows[0] if "symbol" in p else rows

    def ticker_24hr(self, p: Params) -> object:
        return self._tickers(p, lambda s: self.fx.market(s).stats())

    def ticker_price(self, p: Params) -> object:
        return self._tickers(p, lambda s: {"symbol": s,
                                           "price": self.fx.market(s).stats()["lastPrice"]})

    def book_ticker(self, p: Params) -> object:
        def render(s: str) -> object:
            bt = self.fx.market(s).book_ticker()
            return {"symbol": s, "bidPrice": bt["b"], "bidQty": bt["B"], "askPrice": bt["a"],
                    "askQty": bt["A"]}
        return self._tickers(p, render)

    def avg_price(self, p: Params) -> object:
        market = self.fx.market(_req(p, "symbol"))
        return {"mins": 5, "price": f"{market.book.mid() or market.spec.start_mid:.8f}",
                "closeTime": self.fx.now_ms()}

    # --- account / orders (SIGNED) ---------------------------------------------------------
    def account(self, p: Params) -> object:
        eng = self.fx.engine
        omit_zero = p.get("omitZeroBalances") == "true"
        balances = [{"asset": a, "free": f"{b.free:.8f}", "locked": f"{b.locked:.8f}"}
                    for a, b in sorted(eng.balances.items())
                    if not (omit_zero and b.free == 0 and b.locked == 0)]
        fee = f"{eng.maker_fee:.8f}", f"{eng.taker_fee:.8f}"
        return {
            "makerCommission": int(eng.maker_fee * 10_000),
            "takerCommission": int(eng.taker_fee * 10_000),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": fee[0], "taker": fee[1], "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.fx.now_ms(), "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"], "uid": 1,
        }

    def new_order(self, p: Params, test: bool = False) -> object:
        symbol = _req(p, "symbol")
        self.fx.market(symbol)
        type_ = _req(p, "type")
        client_id = p.get("newClientOrderId") or f"fake_{secrets.token_hex(8)}"
        if test:
            return {}
        order, fills = self.fx.engine.place_order(
            symbol, _req(p, "side"), type_, _dec(p, "quantity"), _dec(p, "quoteOrderQty"),
            _dec(p, "price"), p.get("timeInForce"), client_id,
        )
        default = "FULL" if type_ in ("MARKET", "LIMIT") else "ACK"
        return new_order_json(order, p.get("newOrderRespType") or default, fills)

    def test_order(self, p: Params) -> object:
        return self.new_order(p, test=True)

    def _find(self, p: Params, cancel: bool) -> Order:
        symbol = _req(p, "symbol")
        self.fx.market(symbol)
        order_id, client_id = _int(p, "orderId"), p.get("origClientOrderId")
        if order_id is None and not client_id:
            raise errors.mandatory("orderId")
        order = self.fx.engine.find(symbol, order_id, client_id)
        if order is None:
            raise errors.unknown_order_cancel() if cancel else errors.order_does_not_exist()
        return order

    def get_order(self, p: Params) -> object:
        return order_json(self._find(p, cancel=False))

    def cancel_order(self, p: Params) -> object:
        order = self._find(p, cancel=True)
        cancel_id = p.get("newClientOrderId") or f"fake_{secrets.token_hex(8)}"
        self.fx.engine.cancel(order, cancel_id)
        return cancel_json(order, cancel_id, self.fx.now_ms())

    def cancel_open_orders(self, p: Params) -> object:
        symbol = _req(p, "symbol")
        self.fx.market(symbol)
        out = []
        for order in self.fx.engine.open_orders(symbol):
            cancel_id = f"fake_{secrets.token_hex(8)}"
            self.fx.engine.cancel(order, cancel_id)
            out.append(cancel_json(order, cancel_id, self.fx.now_ms()))
        if not out:
            raise errors.unknown_order_cancel()
        return out

    def open_orders(self, p: Params) -> object:
        symbol = p.get("symbol")
        if symbol:
            self.fx.market(symbol)
        return [order_json(o) for o in self.fx.engine.open_orders(symbol or None)]

    def all_orders(self, p: Params) -> object:
        symbol = _req(p, "symbol")
        self.fx.market(symbol)
        limit = min(_int(p, "limit", 500) or 500, 1000)
        return [order_json(o) for o in self.fx.engine.all_orders(
            symbol, _int(p, "orderId"), _int(p, "startTime"), _int(p, "endTime"), limit)]

    def my_trades(self, p: Params) -> object:
        symbol = _req(p, "symbol")
        self.fx.market(symbol)
        limit = min(_int(p, "limit", 500) or 500, 1000)
        return [my_trade_json(f) for f in self.fx.engine.my_trades(
            symbol, _int(p, "orderId"), _int(p, "fromId"), _int(p, "startTime"),
            _int(p, "endTime"), limit)]

    # --- legacy listenKey user stream (USER_STREAM) ------------------------------------------
    def new_listen_key(self, p: Params) -> object:
        key = secrets.token_hex(30)
        self.fx.hub.listen_keys.add(key)
        return {"listenKey": key}

    def keepalive_listen_key(self, p: Params) -> object:
        if _req(p, "listenKey") not in self.fx.hub.listen_keys:
            raise BinanceError(-1125, "This listenKey does not exist.")
        return {}

    def close_listen_key(self, p: Params) -> object:
        self.fx.hub.listen_keys.discard(_req(p, "listenKey"))
        return {}


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (ccxt sees ExchangeNotAvailable)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)  # never sent: the connection is gone


def _error_response(exc: BinanceError) -> web.Response:
    return web.Response(status=exc.status, text=exc.json(), content_type="application/json")


Routes = dict[tuple[str, str], tuple[str, Callable[["RestApi", Params], object]]]
ROUTES: Routes = {
    ("GET", "/api/v3/ping"): ("NONE", RestApi.ping),
    ("GET", "/api/v3/time"): ("NONE", RestApi.time),
    ("GET", "/api/v3/exchangeInfo"): ("NONE", RestApi.exchange_info),
    ("GET", "/api/v3/depth"): ("NONE", RestApi.depth),
    ("GET", "/api/v3/trades"): ("NONE", RestApi.trades),
    ("GET", "/api/v3/aggTrades"): ("NONE", RestApi.agg_trades),
    ("GET", "/api/v3/klines"): ("NONE", RestApi.klines),
    ("GET", "/api/v3/uiKlines"): ("NONE", RestApi.klines),
    ("GET", "/api/v3/avgPrice"): ("NONE", RestApi.avg_price),
    ("GET", "/api/v3/ticker/24hr"): ("NONE", RestApi.ticker_24hr),
    ("GET", "/api/v3/ticker/price"): ("NONE", RestApi.ticker_price),
    ("GET", "/api/v3/ticker/bookTicker"): ("NONE", RestApi.book_ticker),
    ("GET", "/api/v3/account"): ("SIGNED", RestApi.account),
    ("POST", "/api/v3/order"): ("SIGNED", RestApi.new_order),
    ("POST", "/api/v3/order/test"): ("SIGNED", RestApi.test_order),
    ("GET", "/api/v3/order"): ("SIGNED", RestApi.get_order),
    ("DELETE", "/api/v3/order"): ("SIGNED", RestApi.cancel_order),
    ("GET", "/api/v3/openOrders"): ("SIGNED", RestApi.open_orders),
    ("DELETE", "/api/v3/openOrders"): ("SIGNED", RestApi.cancel_open_orders),
    ("GET", "/api/v3/allOrders"): ("SIGNED", RestApi.all_orders),
    ("GET", "/api/v3/myTrades"): ("SIGNED", RestApi.my_trades),
    ("POST", "/api/v3/userDataStream"): ("USER_STREAM", RestApi.new_listen_key),
    ("PUT", "/api/v3/userDataStream"): ("USER_STREAM", RestApi.keepalive_listen_key),
    ("DELETE", "/api/v3/userDataStream"): ("USER_STREAM", RestApi.close_listen_key),
}
