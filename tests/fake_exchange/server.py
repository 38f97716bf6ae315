"""`FakeBinance`: assembles markets, engine, auth, faults, REST and websockets on one port.

Lifecycle: `async with FakeBinance(seed=...) as fx:` binds 127.0.0.1 on a free port in the
running loop. `FakeBinanceThread` (threaded.py) runs the same object in a thread with its own
loop for sync tests and subprocess daemons, and `python -m tests.fake_exchange` standalone.

The object is also the operator's console: move prices (`step`, `set_mid`, `advance`), act on
orders while a client is away (`fill_order`, `cancel_order`), set balances, inspect all orders
and trades, count order POSTs per clientOrderId, and list `unhandled` requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from .auth import FAKE_API_KEY, FAKE_API_SECRET, Auth
from .ccxt_config import ccxt_config
from .control import Control
from .engine import Engine, IdSequence
from .errors import BinanceError, invalid_symbol
from .fapi_routes import FAPI_ROUTES
from .faults import Faults
from .futures import FuturesEngine
from .http_routes import RestApi
from .marketdata import Market, PublicTrade, RandomWalk, dumps
from .markets import DEFAULT_FUTURES, DEFAULT_SYMBOLS, SymbolSpec, fmt
from .models import Fill, Order, my_trade_json, order_json
from .replay import DEFAULT_CAPTURE, Replay
from .stamps import WireStamps
from .ws import WsHub

DEFAULT_BALANCES = {"USDT": "100000", "BTC": "1", "ETH": "10"}


class FakeBinance:
    def __init__(
        self,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        symbols: Iterable[SymbolSpec] = DEFAULT_SYMBOLS,
        replay: bool | str | Path = False,
        replay_speed: float | None = None,
        tick_interval: float | None = None,
        balances: dict[str, str] | None = None,
        maker_fee: str = "0.001",
        taker_fee: str = "0.001",
        api_key: str = FAKE_API_KEY,
        api_secret: str = FAKE_API_SECRET,
        fee_asset: tuple[str, str] | None = None,
        print_fills: bool = True,
        futures_wallet: str = "10000",
        funding_interval_s: float | None = None,
    ) -> None:
        """`replay`: True (the bundled capture slice) or a capture path drives BTCUSDT from
        real data; other symbols always follow the seeded random walk. `replay_speed` /
        `tick_interval` start background drivers; leave them None for step-by-step tests.
        `print_fills=False`: our own fills stay off the public tape (a latency bench wants
        only the trades it publishes). Futures (`/fapi`, `futures.py`) trade the same books
        as perpetuals, margined from a USDT wallet of `futures_wallet`; `funding_interval_s`
        settles funding that often."""
        self.host, self.port, self.seed = host, port, seed
        self.api_key, self.api_secret = api_key, api_secret
        self.replay_speed, self.tick_interval = replay_speed, tick_interval
        self.specs = {s.symbol: s for s in symbols}
        self.unhandled: list[str] = []
        self.requests: list[str] = []  # "METHOD /path" of every non-control HTTP request
        # (time.monotonic(), method, path) of the same requests, for "nothing came while ..."
        self.request_log: list[tuple[float, str, str]] = []
        self.order_posts: Counter[str] = Counter()
        self.clock_skew_ms = 0
        self.faults = Faults()
        self.stamps: WireStamps | None = None  # a latency bench's wire stamps (stamps.py)
        self.print_fills = print_fills
        self.hub = WsHub(self)
        self.rest = RestApi(self, FAPI_ROUTES)  # the ws-api's order methods share its handlers
        self.faults.on_partition.append(self.hub.sever_all)
        self.auth = Auth(api_key, api_secret, self.now_ms)
        # Binance numbers trades per symbol; a shared sequence would read as gaps.
        trade_ids = {s: IdSequence(1) for s in self.specs}
        self.markets = {s: Market(spec, self.hub.publish, self.now_ms)
                        for s, spec in self.specs.items()}
        self.engine = Engine(self.specs, {s: m.book for s, m in self.markets.items()},
                             self.now_ms, trade_ids, Decimal(maker_fee), Decimal(taker_fee))
        self.engine.forced_rejects = self.faults.forced_rejects
        if fee_asset is not None:  # (asset, its price in quote): fees paid in that asset
            self.engine.fee_asset = (fee_asset[0], Decimal(fee_asset[1]))
        self.engine.user_listeners.append(self.hub.publish_user)
        futures_specs = {s: f for s, f in DEFAULT_FUTURES.items() if s in self.specs}
        self.futures = FuturesEngine(futures_specs, {s: self.markets[s].book
                                                     for s in futures_specs},
                                     self.now_ms, trade_ids, wallet=Decimal(futures_wallet))
        self.futures.forced_rejects = self.faults.forced_rejects
        self.futures.user_listeners.append(self.hub.publish_futures_user)
        self.funding_interval_s = funding_interval_s
        self._last_funding_ms = self.now_ms()
        self.replay: Replay | None = None
        if replay:
            path = DEFAULT_CAPTURE if replay is True else Path(replay)
            self.replay = Replay(self.markets["BTCUSDT"], self.engine.match_resting, path)
        self.walks = {
            s: RandomWalk(m, random.Random(f"{seed}:{s}"), trade_ids[s])
            for s, m in self.markets.items() if not (self.replay and s == "BTCUSDT")
        }
        # fills print on the public tape only where the tape is synthetic
        self.engine.fill_listeners.append(self._print_fill)
        self.futures.fill_listeners.append(self._print_fill)
        for asset, amount in (balances or DEFAULT_BALANCES).items():
            self.engine.balance(asset).free = Decimal(amount)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> FakeBinance:
        app = web.Application()
        rest, control = self.rest, Control(self)
        app.router.add_get("/stream/ws", self.hub.market)
        app.router.add_get("/stream/ws/{tail:.*}", self.hub.market)
        app.router.add_get("/stream/stream", self.hub.combined)
        app.router.add_get("/ws-api/v3", self.hub.ws_api)
        app.router.add_get("/fstream/{category}/ws", self.hub.futures)
        app.router.add_get("/fstream/{category}/ws/{tail:.*}", self.hub.futures)
        app.router.add_route("*", "/__control/{tail:.*}", control.dispatch)
        app.router.add_route("*", "/{tail:.*}", rest.dispatch)
        # handler_cancellation: a stalled handler (delay fault) dies with its client
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the real port when asked for 0
        if self.tick_interval:
            self._tasks.append(asyncio.create_task(self._ticker(self.tick_interval)))
        if self.funding_interval_s:
            self._tasks.append(asyncio.create_task(self._funding(self.funding_interval_s)))
        if self.replay is not None and self.replay_speed:
            self._tasks.append(asyncio.create_task(self.replay.run(self.replay_speed)))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.hub.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _ticker(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.step()

    async def _funding(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.fund()

    # --- futures -------------------------------------------------------------------------
    def fund(self, rate: Decimal | str | None = None) -> list[dict[str, object]]:
        """Settle funding now (at `rate`, default the engine's); returns the income rows."""
        self._last_funding_ms = self.now_ms()
        paid = self.futures.fund(None if rate is None else Decimal(rate))
        return [{"symbol": i.symbol, "income": f"{i.income:f}", "time": i.time,
                 "tranId": i.tran_id} for i in paid]

    def next_funding_ms(self) -> int:
        interval_ms = int((self.funding_interval_s or 28_800) * 1000)
        return self._last_funding_ms + interval_ms

    def set_mark(self, symbol: str, mark: Decimal | str | None) -> None:
        """Pin `symbol`'s mark price (None: follow the book's mid again); liquidates if the
        mark crossed the liquidation price."""
        if mark is None:
            self.futures.marks.pop(symbol, None)
        else:
            self.futures.marks[symbol] = Decimal(mark)
        self._publish_mark(symbol)
        self.futures.liquidate(symbol)

    def _publish_mark(self, symbol: str) -> None:
        if symbol not in self.futures.specs:
            return
        mark = fmt(self.futures.mark(symbol))
        payload = dumps({
            "e": "markPriceUpdate", "E": self.now_ms(), "s": symbol, "p": mark, "i": mark,
            "P": mark, "r": fmt(self.futures.funding_rate), "T": self.next_funding_ms()})
        for suffix in ("@markPrice", "@markPrice@1s"):
            self.hub.publish(symbol.lower() + suffix, payload)

    def positions(self) -> dict[str, dict[str, str]]:
        """The futures positions as the venue holds them (one-way: one per symbol)."""
        return {s: {"positionAmt": f"{p.amt:f}", "entryPrice": f"{p.entry:f}",
                    "leverage": str(p.leverage), "marginType": p.margin_type,
                    "liquidationPrice": f"{self.futures.liquidation_price(s):f}",
                    "unRealizedProfit": f"{self.futures.unrealized(s):f}"}
                for s, p in self.futures.positions.items()}

    def futures_orders(self) -> list[dict[str, object]]:
        from .futures_json import futures_order_json
        return [futures_order_json(o, o.order_id in self.futures.reduce_only)
                for o in sorted(self.futures.orders.values(), key=lambda o: o.order_id)]

    def futures_wallet(self) -> Decimal:
        return self.futures.wallet

    def place_futures_order(self, symbol: str, side: str, qty: Decimal | str,
                            client_order_id: str = "operator") -> dict[str, object]:
        """A market order placed on the account directly (the operator's, not the daemon's)."""
        from .futures_json import futures_order_json
        order = self.futures.place_futures(symbol, side, "MARKET", Decimal(qty), None, None,
                                           client_order_id, False)
        return futures_order_json(order, False)

    # --- addresses and client config ------------------------------------------------------
    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def ccxt_config(self, futures: bool = False) -> dict[str, Any]:
        return ccxt_config(self.http_base, self.ws_base, futures)

    def ccxt_credentials(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.api_secret}

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    def record_unhandled(self, what: str) -> None:
        self.unhandled.append(what)

    def market(self, symbol: str) -> Market:
        market = self.markets.get(symbol)
        if market is None:
            raise invalid_symbol()
        return market

    # --- market movement -----------------------------------------------------------------
    def step(self, n: int = 1, symbol: str | None = None) -> None:
        """Advance the random walk of `symbol` (default: every synthetic symbol) `n` times."""
        for _ in range(n):
            for sym, walk in self.walks.items():
                if symbol is None or sym == symbol:
                    walk.step()
                    self.engine.match_resting(sym)
                    if sym in self.futures.specs:
                        self.futures.match_resting(sym)
                        self._publish_mark(sym)

    def set_mid(self, symbol: str, mid: Decimal | str) -> None:
        """Rebuild `symbol`'s synthetic ladder around `mid` (best bid < mid < best ask)."""
        walk = self.walks.get(symbol)
        if walk is None:
            raise ValueError(f"{symbol} is not driven by the random walk")
        walk.set_mid(Decimal(mid))
        self.engine.match_resting(symbol)
        if symbol in self.futures.specs:
            self.futures.match_resting(symbol)
            self._publish_mark(symbol)

    def advance(self, n: int = 1) -> int:
        """Forward the next `n` replay messages (BTCUSDT in replay mode)."""
        if self.replay is None:
            raise ValueError("not in replay mode")
        return self.replay.advance(n)

    def advance_trades(self, n: int) -> int:
        if self.replay is None:
            raise ValueError("not in replay mode")
        return self.replay.advance_trades(n)

    def _print_fill(self, order: Order, fill: Fill) -> None:
        if order.symbol in self.walks and self.print_fills:
            # the public side of a user fill: buyer is maker when the user sold as taker
            buyer_maker = (order.side == "BUY") == fill.is_maker
            self.markets[order.symbol].record_trade(PublicTrade(
                fill.trade_id, fill.price, fill.qty, fill.time, buyer_maker))

    # --- websockets / operator actions -------------------------------------------------------
    async def drop_websockets(self) -> int:
        """Close every websocket connection from the server side; returns how many."""
        return await self.hub.drop_all()

    def subscribers(self, stream: str) -> int:
        return self.hub.subscribers(stream)

    def user_subscribers(self) -> int:
        return self.hub.user_subscribers()

    def find_order(self, symbol: str, order_id: int | None = None,
                   client_order_id: str | None = None) -> Order:
        order = self.engine.find(symbol, order_id, client_order_id)
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return order

    def fill_order(self, symbol: str, order_id: int | None = None,
                   client_order_id: str | None = None, qty: Decimal | str | None = None,
                   price: Decimal | str | None = None) -> dict[str, object]:
        """Fill (all or `qty` of) an open order at its price, as if the market traded there."""
        order = self.find_order(symbol, order_id, client_order_id)
        fill = self.engine.operator_fill(order, None if qty is None else Decimal(qty),
                                         None if price is None else Decimal(price))
        return my_trade_json(fill)

    def cancel_order(self, symbol: str, order_id: int | None = None,
                     client_order_id: str | None = None) -> dict[str, object]:
        order = self.find_order(symbol, order_id, client_order_id)
        self.engine.cancel(order, "")
        return order_json(order)

    def set_balance(self, asset: str, free: Decimal | str,
                    locked: Decimal | str | None = None) -> None:
        self.engine.set_balance(asset, Decimal(free), None if locked is None else Decimal(locked))

    def balances(self) -> dict[str, dict[str, str]]:
        return {a: {"free": f"{b.free.normalize():f}", "locked": f"{b.locked.normalize():f}"}
                for a, b in sorted(self.engine.balances.items())}

    def orders(self) -> list[dict[str, object]]:
        return [order_json(o) for o in sorted(self.engine.orders.values(),
                                              key=lambda o: o.order_id)]

    def trades(self) -> list[dict[str, object]]:
        return [my_trade_json(f) for f in self.engine.fills]

    def order_post_count(self, client_order_id: str) -> int:
        return self.order_posts[client_order_id]
