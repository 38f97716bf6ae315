"""Order entry: which wire a create or a cancel goes out on — the venue's REST API, or its
websocket API (`exchange.order_entry = "websocket"`: Binance's `order.place` / `order.cancel`,
ccxt's `create_order_ws` / `cancel_order_ws`) with REST as the fallback while the socket is down.

A websocket request is the same request as over REST: the same client id, journaled before it
is sent, its errors classified the same way by ccxt's exception classes. What the websocket
lacks is a timeout (ccxt waits for the answer as long as the socket lives), so one is added, and
a request that times out or dies with the socket is *ambiguous*, raised as ccxt's
`RequestTimeout` / `NetworkError` for the broker to look the order up — never resent on the
other wire. Only the orders after it go over REST, for `WS_RETRY_S`, then the socket is tried
again. A request goes over the socket only while it is connected: on a socket that is down it
would wait for a dial, and could not tell "never sent" from "sent, no answer".
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt

from daemon.clock import Clock
from daemon.config import ConfigError, ExchangeConfig
from daemon.ops import log

_log = log.get("ccxt_entry")
WS_RETRY_S = 30.0  # after the socket failed a request, REST for this long


class OrderEntry:
    def __init__(self, exchange: Any, cfg: ExchangeConfig, clock: Clock) -> None:
        self._ex = exchange
        self._clock = clock
        self._timeout_s = cfg.timeout_ms / 1000
        self._websocket = cfg.order_entry == "websocket"
        self._down_until_ns = 0
        self.fallbacks = 0  # requests sent over REST because the socket was down

    @property
    def path(self) -> str:
        """The wire the next request takes: "websocket" or "rest"."""
        return "websocket" if self._ws_now() else "rest"

    def _ws_now(self, symbol: str | None = None) -> bool:
        return (self._websocket and self._clock.monotonic_ns() >= self._down_until_ns
                and (symbol is None or self._socket_open(symbol)))

    def _socket_open(self, symbol: str) -> bool:
        """Is the venue's websocket API connected now? A request on a socket that is down
        would wait for a dial and could not tell "not sent" from "no answer": REST then, with
        no doubt about the request (the user-data stream, on the same socket, redials it)."""
        ex = self._ex
        try:
            market = ex.market(symbol)
            kind = "spot" if market.get("spot") else ("linear" if market.get("linear")
                                                      else "inverse")
            url = ex.urls["api"]["ws"]["ws-api"][kind]
        except (KeyError, TypeError, ccxt.BaseError):
            return False
        client = (ex.clients or {}).get(url)
        return bool(client is not None and client.connected is not None
                    and client.connected.done() and not client.closed())

    async def create(self, symbol: str, order_type: str, side: str, amount: float,
                     price: float | None, params: dict[str, Any]) -> Any:
        if not self._ws_now(symbol):
            self.fallbacks += self._websocket
            return await self._ex.create_order(symbol, order_type, side, amount, price, params)
        return await self._over_socket("create", self._ex.create_order_ws(
            symbol, order_type, side, amount, price, params))

    async def cancel(self, symbol: str, params: dict[str, Any]) -> Any:
        if not self._ws_now(symbol):
            self.fallbacks += self._websocket
            return await self._ex.cancel_order("", symbol, params)
        return await self._over_socket("cancel", self._ex.cancel_order_ws("", symbol, params))

    async def _over_socket(self, what: str, request: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await request
        except TimeoutError:
            self._socket_down(what, "no answer")
            raise ccxt.RequestTimeout(f"{what} over the websocket: no answer within "
                                      f"{self._timeout_s:g}s") from None
        except ccxt.NetworkError as err:
            self._socket_down(what, type(err).__name__)
            raise

    def _socket_down(self, what: str, why: str) -> None:
        self._down_until_ns = self._clock.monotonic_ns() + int(WS_RETRY_S * 1e9)
        _log.warning("order_entry.fallback", request=what, why=why, path="rest",
                     retry_websocket_s=WS_RETRY_S)


def check_supported(exchange: Any, cfg: ExchangeConfig) -> None:
    """`order_entry = "websocket"` on a venue ccxt has no websocket orders for: exit 78."""
    if cfg.order_entry != "websocket":
        return
    has = getattr(exchange, "has", {}) or {}
    if not (has.get("createOrderWs") and has.get("cancelOrderWs")):
        raise ConfigError(f"exchange.order_entry: ccxt has no websocket order entry for "
                          f"'{cfg.id}'; use \"rest\"")
