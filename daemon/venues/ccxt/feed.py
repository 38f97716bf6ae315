"""Market data from an exchange through ccxt.pro, with a REST fallback and a bad-data filter.

Per instrument, `run()` keeps three loops — four when the strategy asks for an order book
(`book_depth`): trades over the websocket, best bid/ask over the websocket, the book's top
levels (each update published as a batch without trades, and the latest book carried on every
batch), and a REST poller that takes over trades while the socket has been silent for
`ws_silence_s` (and hands back once the socket delivers again). A failing socket is re-watched
with jittered exponential backoff. Every trade passes `TradeFilter` before it becomes a tick:
a non-positive or NaN price or size, a duplicate or out-of-order trade id, or a jump beyond
`max_price_jump_bps` is dropped and counted, never given to a strategy. A jump in trade ids is a
gap: it is logged, counted, and the batch says so, so the bar built across it is marked.

The jump filter compares each trade with an anchor: the last accepted price. A trade beyond the
bound is held back, not dropped at once. `CONFIRM_TRADES` consecutive held trades that agree with
each other (each within the bound of the first), or one that agrees with a fresh best bid/ask,
mean the market really moved: the held trades are released in order and the anchor moves to
them. A trade back within the bound of the anchor means the held ones were bad prints: they are
dropped (`price_jump`). With no anchor the fresh best bid/ask is the reference, else the first
trade is taken. A reconnect, a gap and a switch to REST forget the anchor: the price may have
moved while we could not see it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.model import BookSnapshot, Tick, TickBatch
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.retry import backoff_s
from daemon.venues.ccxt.client import error_label

_log = log.get("ccxt_feed")
QUEUE_SIZE = 1024
MS = 1_000_000


def rest_trades_params(exchange_id: str) -> dict[str, Any]:
    """Binance's REST trades default to aggTrades, whose ids differ from the websocket's
    @trade ids; ask for plain trades so one id sequence covers both paths."""
    return {"fetchTradesMethod": "publicGetTrades"} if exchange_id == "binance" else {}


CONFIRM_TRADES = 3  # consecutive trades beyond the bound, agreeing with each other: a move
# Depths a venue's REST snapshot accepts (Binance's); the book is synced from the smallest one
# that covers at least 100 levels, so levels below the top stay known as the top is traded.
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
MIN_SNAPSHOT = 100


class TradeFilter:
    """Validates one instrument's trades in arrival order; keeps the last good id and price."""

    def __init__(self, symbol: str, max_jump_bps: float, metrics: Metrics) -> None:
        self.symbol = symbol
        self._max_jump = max_jump_bps / 10_000
        self._metrics = metrics
        self.last_id: int | None = None
        self.last_price: float | None = None  # the anchor
        self._held: list[Tick] = []  # beyond the bound of the anchor, awaiting a verdict

    def reanchor(self, why: str) -> None:
        """Forget the anchor: the next trade (checked against a fresh best bid/ask when there
        is one) sets it again. Trades held against the old anchor are dropped."""
        if self.last_price is not None:
            _log.info("market_data.anchor_reset", symbol=self.symbol, why=why,
                      anchor=self.last_price, held=len(self._held))
        self._drop_held()
        self.last_price = None

    def accept(self, trades: list[dict[str, Any]],
               mid: float | None = None) -> tuple[list[Tick], bool]:
        """The good trades as ticks, and whether a gap preceded any of them. `mid`: the fresh
        best bid/ask midpoint, when there is one."""
        ticks: list[Tick] = []
        gap = False
        for t in trades:
            trade_id = _int_id(t.get("id"))
            reason = self._order_reason(trade_id)
            if reason is None and trade_id is not None:
                if self.last_id is not None and trade_id > self.last_id + 1:
                    gap = True
                    self._metrics.md_gaps.inc()
                    _log.warning("market_data.gap", symbol=self.symbol, after_id=self.last_id,
                                 next_id=trade_id, missing=trade_id - self.last_id - 1)
                    self.reanchor("gap")
                # A trade dropped for its values was still sent: its id is used up.
                self.last_id = trade_id
            reason = reason or self._value_reason(t)
            if reason is not None:
                self._metrics.md_dropped.labels(reason).inc()
                continue
            tick = Tick(int(t["timestamp"]) * MS, float(t["price"]), float(t["amount"]),
                        trade_id or 0)
            ticks.extend(self._judge(tick, mid))
        return ticks, gap

    def _judge(self, tick: Tick, mid: float | None) -> list[Tick]:
        """The ticks this one lets through: itself, none (held), or the held ones with it."""
        ref = self.last_price if self.last_price is not None else mid
        if ref is None or self._near(tick.price, ref):
            self._drop_held()  # the market is where it was: what was held were bad prints
            self.last_price = tick.price
            return [tick]
        if self._held and not self._near(tick.price, self._held[0].price):
            self._drop_held()  # the held ones do not agree with this one either
        self._held.append(tick)
        by_quote = mid is not None and self._near(tick.price, mid)
        if len(self._held) < CONFIRM_TRADES and not by_quote:
            return []
        released, self._held = self._held, []
        _log.warning("market_data.reanchored", symbol=self.symbol, anchor=ref,
                     price=tick.price, trades=len(released),
                     by="best_bid_ask" if by_quote else "consecutive_trades")
        self.last_price = tick.price
        return released

    def _near(self, price: float, ref: float) -> bool:
        return abs(price / ref - 1) <= self._max_jump

    def _drop_held(self) -> None:
        if self._held:
            self._metrics.md_dropped.labels("price_jump").inc(len(self._held))
            self._held = []

    def _order_reason(self, trade_id: int | None) -> str | None:
        if trade_id is not None and self.last_id is not None and trade_id <= self.last_id:
            return "duplicate" if trade_id == self.last_id else "out_of_order"
        return None

    @staticmethod
    def _value_reason(t: dict[str, Any]) -> str | None:
        try:
            price, amount = float(t["price"]), float(t["amount"])
            int(t["timestamp"])
        except (KeyError, TypeError, ValueError, OverflowError):
            return "malformed"
        if not math.isfinite(price) or price <= 0:
            return "bad_price"
        if not math.isfinite(amount) or amount <= 0:
            return "bad_size"
        return None


def _int_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _Quote:
    __slots__ = ("ask", "bid", "mono_ns")

    def __init__(self) -> None:
        self.bid = 0.0
        self.ask = 0.0
        self.mono_ns = 0


class CcxtFeed:
    def __init__(self, exchange: Any, symbols: list[str], cfg: ExchangeConfig, metrics: Metrics,
                 clock: Clock, book_depth: int = 0) -> None:
        self._ex = exchange
        self._symbols = symbols
        self._cfg = cfg
        self._metrics = metrics
        self._clock = clock
        self._queue: asyncio.Queue[TickBatch] = asyncio.Queue(QUEUE_SIZE)
        self._filters = {s: TradeFilter(s, float(cfg.max_price_jump_bps), metrics)
                         for s in symbols}
        self._quotes = {s: _Quote() for s in symbols}
        self._last_ws_ns = {s: clock.monotonic_ns() for s in symbols}
        self._path = "websocket"
        self._rest_params = rest_trades_params(cfg.id)
        self._book_depth = book_depth
        self._books: dict[str, BookSnapshot] = {}

    @property
    def path(self) -> str:
        return self._path

    def _set_path(self, path: str) -> None:
        if path != self._path:
            self._path = path
            self._metrics.set_data_path(path)
            _log.warning("market_data.path", path=path)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for s in self._symbols:
                tg.create_task(self._watch_trades(s), name=f"ws_trades:{s}")
                tg.create_task(self._watch_quotes(s), name=f"ws_quotes:{s}")
                tg.create_task(self._rest_fallback(s), name=f"rest_trades:{s}")
                if self._book_depth:
                    tg.create_task(self._watch_book(s), name=f"ws_book:{s}")

    async def stream(self) -> AsyncIterator[TickBatch]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        try:
            await self._ex.close()
        except Exception as err:
            _log.warning("ccxt_feed.close_failed", error=repr(err))

    def _fresh_mid(self, symbol: str) -> float | None:
        """The best bid/ask midpoint, if the venue sent one within `ws_silence_s`."""
        q = self._quotes[symbol]
        age_ns = self._clock.monotonic_ns() - q.mono_ns
        if q.mono_ns == 0 or age_ns > int(self._cfg.ws_silence_s * 1e9):
            return None
        return (q.bid + q.ask) / 2

    async def _publish(self, symbol: str, trades: list[dict[str, Any]]) -> None:
        ticks, gap = self._filters[symbol].accept(trades, self._fresh_mid(symbol))
        if not ticks:
            return
        now = self._clock.now_ns()
        lag = self._metrics.md_lag
        for tick in ticks:
            lag.observe(max(0.0, (now - tick.ts_ns) / 1e9))
        q = self._quotes[symbol]
        await self._queue.put(TickBatch.of(symbol, ticks, q.bid, q.ask, now, gap_before=gap,
                                           book=self._books.get(symbol)))


    async def _watch(self, stream: str, symbol: str, receive: Callable[[], Awaitable[Any]],
                     handle: Callable[[Any], Awaitable[None]],
                     on_drop: Callable[[], None] | None = None) -> None:
        """One websocket stream, for good: each message to `handle`; a failing socket is
        re-watched after a jittered exponential pause (reset by the next message), `on_drop`
        told first."""
        attempt = 0
        while True:
            try:
                message = await receive()
            except Exception as err:  # ccxt's, or its parser's on a message it could not read
                attempt += 1
                if on_drop is not None:
                    on_drop()
                await self._reconnect_pause(stream, symbol, err, attempt)
                continue
            attempt = 0
            await handle(message)

    async def _watch_trades(self, symbol: str) -> None:
        async def handle(trades: Any) -> None:
            self._last_ws_ns[symbol] = self._clock.monotonic_ns()
            self._set_path("websocket")
            await self._publish(symbol, list(trades))

        # The price may move while the socket is down: the jump filter forgets its anchor.
        await self._watch("trades", symbol, lambda: self._ex.watch_trades(symbol), handle,
                          lambda: self._filters[symbol].reanchor("reconnect"))

    async def _watch_quotes(self, symbol: str) -> None:
        async def handle(quotes: Any) -> None:
            self._metrics.md_messages.labels("quote").inc()
            self._apply_quote(symbol, quotes.get(symbol) or {})

        await self._watch("quotes", symbol, lambda: self._ex.watch_bids_asks([symbol]), handle)

    async def _watch_book(self, symbol: str) -> None:
        limit = next((n for n in SNAPSHOT_LIMITS if n >= max(self._book_depth, MIN_SNAPSHOT)),
                     SNAPSHOT_LIMITS[-1])

        async def handle(book: Any) -> None:
            now = self._clock.now_ns()
            snapshot = book_snapshot(book, self._book_depth, now)
            if snapshot is None:
                self._metrics.md_dropped.labels("bad_book").inc()
                return
            self._metrics.md_messages.labels("book").inc()
            self._books[symbol] = snapshot
            q = self._quotes[symbol]
            await self._queue.put(TickBatch(symbol, [], [], [], q.bid, q.ask, now,
                                            book=snapshot))

        await self._watch("book", symbol, lambda: self._ex.watch_order_book(symbol, limit),
                          handle)

    def _apply_quote(self, symbol: str, ticker: dict[str, Any]) -> None:
        try:
            bid, ask = float(ticker.get("bid") or 0), float(ticker.get("ask") or 0)
        except (TypeError, ValueError):
            bid = ask = 0.0
        if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= 0 or bid > ask:
            self._metrics.md_dropped.labels("bad_quote").inc()
            return
        q = self._quotes[symbol]
        q.bid, q.ask, q.mono_ns = bid, ask, self._clock.monotonic_ns()

    async def _reconnect_pause(self, what: str, symbol: str, err: BaseException,
                               attempt: int) -> None:
        self._metrics.ws_reconnects.inc()
        self._metrics.exchange_errors.labels(error_label(err)).inc()
        pause = backoff_s(attempt, 0.5, self._cfg.reconnect_max_s, floor_s=0.1)
        _log.warning("market_data.reconnect", stream=what, symbol=symbol, attempt=attempt,
                     pause_s=round(pause, 3), error=error_label(err))
        await asyncio.sleep(pause)

    async def _rest_fallback(self, symbol: str) -> None:
        """Poll trades over REST while the socket is silent; idle otherwise."""
        silence_ns = int(self._cfg.ws_silence_s * 1e9)
        poll_s = self._cfg.rest_poll_s
        polling = False
        while True:
            await asyncio.sleep(poll_s)
            silent = self._clock.monotonic_ns() - self._last_ws_ns[symbol] > silence_ns
            if not silent:
                polling = False
                continue
            if not polling:
                polling = True
                self._metrics.rest_fallbacks.inc()
                self._set_path("rest")
                self._filters[symbol].reanchor("rest_fallback")
            await self._poll_rest(symbol)

    async def _poll_rest(self, symbol: str) -> None:
        try:
            trades = await self._ex.fetch_trades(symbol, None, 500, self._rest_params)
            ticker = await self._ex.fetch_bids_asks([symbol])
        except Exception as err:  # an answer ccxt's parser raised on too: a failed poll

            self._metrics.exchange_errors.labels(error_label(err)).inc()
            _log.warning("market_data.rest_failed", symbol=symbol, error=error_label(err))
            return
        self._apply_quote(symbol, (ticker or {}).get(symbol) or {})
        last = self._filters[symbol].last_id
        fresh = [t for t in trades if last is None or (_int_id(t.get("id")) or 0) > last]
        await self._publish(symbol, fresh)


def book_snapshot(book: Any, depth: int, now_ns: int) -> BookSnapshot | None:
    """The top `depth` levels of a ccxt order book, or None if the venue's book is unusable: a
    level that is not a positive finite (price, size), sides out of order, or a crossed top."""
    sides: list[list[tuple[float, float]]] = []
    for key, sign in (("bids", -1), ("asks", 1)):
        levels: list[tuple[float, float]] = []
        for level in list((book or {}).get(key) or [])[:depth]:
            try:
                price, size = float(level[0]), float(level[1])
            except (TypeError, ValueError, IndexError):
                return None
            if not (math.isfinite(price) and math.isfinite(size)) or price <= 0 or size <= 0:
                return None
            if levels and (price - levels[-1][0]) * sign <= 0:
                return None  # bids must fall and asks rise, level by level
            levels.append((price, size))
        sides.append(levels)
    bids, asks = sides
    if bids and asks and bids[0][0] >= asks[0][0]:
        return None
    return BookSnapshot(now_ns, bids, asks)
