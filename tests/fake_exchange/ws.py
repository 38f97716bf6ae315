"""Websockets: public market streams and the ws-api user data stream, as ccxt.pro uses them.

Market streams (`<ws>/stream/ws[/<name>...]` raw, `<ws>/stream/stream?streams=a/b` combined)
speak Binance's live-subscription protocol: `{"method":"SUBSCRIBE","params":[...],"id":N}` is
answered `{"result":null,"id":N}`. ccxt.pro connects to `<spot>/ws/<k>` where `<k>` is just
its own connection index, then SUBSCRIBEs; raw connections receive bare payloads, combined
ones `{"stream":...,"data":...}` envelopes built around the untouched payload text.

User data (spot, this ccxt): ccxt does NOT use a REST listenKey; it opens the ws-api
(`<ws>/ws-api/v3`) and sends `userDataStream.subscribe.signature` with an HMAC-signed
`apiKey`/`timestamp`. Events then arrive on that same socket as
`{"subscriptionId":N,"event":{...}}`. A legacy listenKey stream (`<ws>/stream/ws/<key>`, key
from `POST /api/v3/userDataStream`) is served too, for older clients.

Orders on the ws-api: `order.place`, `order.cancel` and `order.status` (ccxt's
`create_order_ws`, `cancel_order_ws`, `fetch_order_ws`), signed like the user-data subscription
and answered by the REST handlers, so the same engine and the same JSON; a fault can let one
take effect unanswered (`Faults.ws_unanswered`).

Publishing is synchronous (the engine calls it mid-trade): each connection has a queue and a
writer task, which also keeps per-connection message order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from .auth import ws_value
from .errors import BinanceError

if TYPE_CHECKING:
    from .server import FakeBinance

# The ws-api's order methods, answered by the REST handlers (same engine, same JSON).
WS_ORDER_METHODS = {"order.place": "new_order", "order.cancel": "cancel_order",
                    "order.status": "get_order"}
STREAM_KINDS = ("@trade", "@aggTrade", "@bookTicker", "@depth", "@depth@100ms", "@ticker",
                "@miniTicker", "@markPrice", "@markPrice@1s")


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    kind: str  # "raw", "combined", "user" (listenKey) or "api" (ws-api)
    transport: asyncio.BaseTransport | None = None
    streams: set[str] = field(default_factory=set)
    user_subs: set[int] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    next_sub_id: int = 0

    severed: bool = False

    def send(self, text: str) -> None:
        if not self.severed:
            self.queue.put_nowait(text)


class WsHub:
    def __init__(self, fx: FakeBinance) -> None:
        self.fx = fx
        self.conns: set[Conn] = set()
        self.listen_keys: set[str] = set()
        self.futures_listen_keys: set[str] = set()  # POST /fapi/v1/listenKey
        self._tasks: set[asyncio.Task[None]] = set()

    # --- fan-out -------------------------------------------------------------------------
    def publish(self, stream: str, raw: str) -> None:
        if any(stream.endswith(muted) for muted in self.fx.faults.muted_streams):
            return
        names = {stream}
        if stream.endswith("@depth@100ms"):  # "<s>@depth" (1000ms) gets the same diffs
            names.add(stream.removesuffix("@100ms"))
        for conn in list(self.conns):
            hit = conn.streams & names
            if not hit:
                continue
            if conn.kind == "combined":
                name = next(iter(hit))
                conn.send('{"stream":' + json.dumps(name) + ',"data":' + raw + "}")
            else:
                conn.send(raw)

    def publish_user(self, event: dict[str, object]) -> None:
        if self.fx.faults.partitioned:
            return  # the client is cut off: what happens meanwhile never reaches it
        raw = json.dumps(self.fx.faults.corrupted(event), separators=(",", ":"))
        for conn in list(self.conns):
            if conn.kind == "user":
                conn.send(raw)
            for sub_id in sorted(conn.user_subs):
                conn.send('{"subscriptionId":' + str(sub_id) + ',"event":' + raw + "}")

    def publish_futures_user(self, event: dict[str, object]) -> None:
        """A futures user-data event, to the `/fstream/private/ws?listenKey=` connections."""
        if self.fx.faults.partitioned:
            return
        raw = json.dumps(self.fx.faults.corrupted(event), separators=(",", ":"))
        for conn in list(self.conns):
            if conn.kind == "futures_user":
                conn.send(raw)

    def subscribers(self, stream: str) -> int:
        return sum(1 for c in self.conns if stream in c.streams)

    def user_subscribers(self) -> int:
        return sum(len(c.user_subs) + (c.kind in ("user", "futures_user")) for c in self.conns)

    async def drop_all(self) -> int:
        """Close every websocket from the server side, as Binance does on maintenance."""
        conns = list(self.conns)
        for conn in conns:
            await conn.ws.close(code=1001, message=b"dropped by fault injection")
        return len(conns)

    def sever_all(self) -> None:
        """A partition, synchronously: nothing queued goes out, every connection is aborted."""
        for conn in list(self.conns):
            conn.severed = True
            while not conn.queue.empty():
                conn.queue.get_nowait()
            transport = conn.transport
            if transport is not None:
                transport.abort()

    # --- connection lifecycle ------------------------------------------------------------
    async def _serve(self, request: web.Request, conn_kind: str,
                     on_text: Callable[[Conn, str], None]) -> web.StreamResponse:
        if self.fx.faults.partitioned:
            self.fx.faults.fired.append(("WS", request.path, "dropped"))
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never sent: the connection is gone
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Conn(ws, conn_kind, transport=request.transport)
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            if conn_kind in ("raw", "combined"):
                self._initial_streams(conn, request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    on_text(conn, msg.data)
        finally:
            self.conns.discard(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _writer(self, conn: Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            with contextlib.suppress(ConnectionResetError):
                await conn.ws.send_str(text)
                if self.fx.stamps is not None:
                    self.fx.stamps.frame_written(text)

    def _initial_streams(self, conn: Conn, request: web.Request) -> None:
        names = request.query.get("streams", "").split("/") if conn.kind == "combined" \
            else request.match_info.get("tail", "").split("/")
        for name in filter(None, names):
            if "@" in name:  # ccxt's "/ws/0" tail is its connection index, not a stream
                self._subscribe(conn, name)

    def _subscribe(self, conn: Conn, name: str) -> None:
        sym, _, kind = name.partition("@")
        if sym.upper() not in self.fx.specs or "@" + kind not in STREAM_KINDS:
            self.fx.record_unhandled(f"WS SUBSCRIBE {name}")
        conn.streams.add(name)

    # --- market streams ------------------------------------------------------------------
    async def market(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if tail in self.listen_keys:
            return await self._serve(request, "user", lambda c, t: None)
        return await self._serve(request, "raw", self._on_market_text)

    async def futures(self, request: web.Request) -> web.StreamResponse:
        """`<ws>/fstream/{public,market}/ws[/<n>]`: futures market streams (ccxt splits them by
        category: trade, bookTicker, depth are public; markPrice is market);
        `<ws>/fstream/private/ws?listenKey=<key>`: the futures user-data stream."""
        if request.match_info.get("category") == "private":
            if request.query.get("listenKey") not in self.futures_listen_keys:
                return web.Response(status=400, text="invalid listenKey")
            return await self._serve(request, "futures_user", lambda c, t: None)
        return await self._serve(request, "raw", self._on_market_text)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "combined", self._on_market_text)

    def _on_market_text(self, conn: Conn, text: str) -> None:
        try:
            req = json.loads(text)
            method, rid, params = req.get("method"), req.get("id"), req.get("params") or []
        except (ValueError, AttributeError):
            conn.send('{"error":{"code":3,"msg":"Invalid JSON"}}')
            return
        if method == "SUBSCRIBE":
            for name in params:
                self._subscribe(conn, str(name))
            result: object = None
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(str(p) for p in params)
            result = None
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(conn.streams)
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            result = None if method == "SET_PROPERTY" else False
        else:
            self.fx.record_unhandled(f"WS METHOD {method}")
            conn.send(json.dumps({"error": {"code": 2, "msg": f"Invalid request: unknown "
                                            f"method {method}"}, "id": rid}))
            return
        conn.send(json.dumps({"result": result, "id": rid}))

    # --- ws-api --------------------------------------------------------------------------
    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "api", self._on_api_text)

    def _on_api_text(self, conn: Conn, text: str) -> None:
        try:
            req = json.loads(text)
            rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
        except (ValueError, AttributeError):
            conn.send(json.dumps({"id": None, "status": 400,
                                  "error": {"code": -1000, "msg": "Invalid JSON"}}))
            return
        stamps = self.fx.stamps
        if stamps is not None:
            stamps.ws_in(str(method))
        try:
            result = self._api_call(conn, str(method), params)
            if self.fx.faults.ws_unanswered[str(method)] > 0:
                self.fx.faults.ws_unanswered[str(method)] -= 1
                self.fx.faults.fired.append(("WS-API", str(method), "unanswered"))
                return  # it took effect; the answer never comes
        except BinanceError as exc:
            conn.send(json.dumps({"id": rid, "status": exc.status, "error": exc.body()}))
            return
        finally:
            if stamps is not None:
                stamps.ws_out(str(method))
        conn.send(json.dumps({"id": rid, "status": 200, "result": result, "rateLimits": []}))

    def _api_call(self, conn: Conn, method: str, params: dict[str, object]) -> object:
        if method == "userDataStream.subscribe.signature":
            self.fx.auth.verify_ws(params)
            sub_id = conn.next_sub_id
            conn.next_sub_id += 1
            conn.user_subs.add(sub_id)
            return {"subscriptionId": sub_id}
        if method == "userDataStream.unsubscribe":
            sub = params.get("subscriptionId")
            if sub is None:
                conn.user_subs.clear()
            else:
                conn.user_subs.discard(int(str(sub)))
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sorted(conn.user_subs)]
        handler = WS_ORDER_METHODS.get(method)
        if handler is not None:
            self.fx.auth.verify_ws(params)
            p = {k: ws_value(v) for k, v in params.items()
                 if k not in ("apiKey", "signature", "timestamp", "recvWindow")}
            if method == "order.place":
                self.fx.order_posts[p.get("newClientOrderId", "")] += 1
            return getattr(self.fx.rest, handler)(p)
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.fx.now_ms()}
        self.fx.record_unhandled(f"WS-API {method}")
        raise BinanceError(-1020, "This operation is not supported.")
