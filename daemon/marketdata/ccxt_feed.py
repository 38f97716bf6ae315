"""Market data from an exchange through ccxt.pro, with a REST fallback and a bad-data filter.

Per instrument, `run()` keeps three loops: trades over the websocket, best bid/ask over the
websocket, and a REST poller that takes over trades while the socket has been silent for
`ws_silence_s` (and hands back once the socket delivers again). A failing socket is re-watched
with jittered exponential backoff. Every trade passes `TradeFilter` before it becomes a tick:
a non-positive or NaN price or size, a duplicate or out-of-order trade id, or a jump beyond
`max_price_jump_bps` is dropped and counted, never given to a strategy. A jump in trade ids is a
gap: it is logged, counted, and the batch says so, so the bar built across it is marked.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

from daemon import log
from daemon.ccxt_support import BaseError, error_label
from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.metrics import Metrics
from daemon.model import Tick, TickBatch
from daemon.retry import backoff_s

_log = log.get("ccxt_feed")
QUEUE_SIZE = 1024
MS = 1_000_000


def rest_trades_params(exchange_id: str) -> dict[str, Any]:
    """Binance's REST trades default to aggTrades, whose ids differ from the websocket's
    @trade ids; ask for plain trades so one id sequence covers both paths."""
    return {"fetchTradesMethod": "publicGetTrades"} if exchange_id == "binance" else {}


class TradeFilter:
    """Validates one instrument's trades in arrival order; keeps the last good id and price."""

    def __init__(self, symbol: str, max_jump_bps: float, metrics: Metrics) -> None:
        self.symbol = symbol
        self._max_jump = max_jump_bps / 10_000
        self._metrics = metrics
        self.last_id: int | None = None
        self.last_price: float | None = None

    def accept(self, trades: list[dict[str, Any]]) -> tuple[list[Tick], bool]:
        """The good trades as ticks, and whether a gap preceded any of them."""
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
                # A trade dropped for its values was still sent: its id is used up.
                self.last_id = trade_id
            reason = reason or self._value_reason(t)
            if reason is not None:
                self._metrics.md_dropped.labels(reason).inc()
                continue
            price = float(t["price"])
            self.last_price = price
            ticks.append(Tick(int(t["timestamp"]) * MS, price, float(t["amount"]), trade_id or 0))
        return ticks, gap

    def _order_reason(self, trade_id: int | None) -> str | None:
        if trade_id is not None and self.last_id is not None and trade_id <= self.last_id:
            return "duplicate" if trade_id == self.last_id else "out_of_order"
        return None

    def _value_reason(self, t: dict[str, Any]) -> str | None:
        try:
            price, amount = float(t["price"]), float(t["amount"])
            int(t["timestamp"])
        except (KeyError, TypeError, ValueError):
            return "malformed"
        if not math.isfinite(price) or price <= 0:
            return "bad_price"
        if not math.isfinite(amount) or amount <= 0:
            return "bad_size"
        if self.last_price is not None and abs(price / self.last_price - 1) > self._max_jump:
            return "price_jump"
        return None


def _int_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _Quote:
    __slots__ = ("ask", "bid")

    def __init__(self) -> None:
        self.bid = 0.0
        self.ask = 0.0


class CcxtFeed:
    def __init__(self, exchange: Any, symbols: list[str], cfg: ExchangeConfig, metrics: Metrics,
                 clock: Clock) -> None:
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

    async def stream(self) -> AsyncIterator[TickBatch]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        try:
            await self._ex.close()
        except Exception as err:
            _log.warning("ccxt_feed.close_failed", error=repr(err))

    async def _publish(self, symbol: str, trades: list[dict[str, Any]]) -> None:
        ticks, gap = self._filters[symbol].accept(trades)
        if not ticks:
            return
        now = self._clock.now_ns()
        lag = self._metrics.md_lag
        for tick in ticks:
            lag.observe(max(0.0, (now - tick.ts_ns) / 1e9))
        q = self._quotes[symbol]
        await self._queue.put(TickBatch.of(symbol, ticks, q.bid, q.ask, now, gap_before=gap))

    async def _watch_trades(self, symbol: str) -> None:
        attempt = 0
        while True:
            try:
                trades = await self._ex.watch_trades(symbol)
            except BaseError as err:
                attempt += 1
                await self._reconnect_pause("trades", symbol, err, attempt)
                continue
            attempt = 0
            self._last_ws_ns[symbol] = self._clock.monotonic_ns()
            self._set_path("websocket")
            await self._publish(symbol, list(trades))

    async def _watch_quotes(self, symbol: str) -> None:
        attempt = 0
        while True:
            try:
                quotes = await self._ex.watch_bids_asks([symbol])
            except BaseError as err:
                attempt += 1
                await self._reconnect_pause("quotes", symbol, err, attempt)
                continue
            attempt = 0
            self._metrics.md_messages.labels("quote").inc()
            self._apply_quote(symbol, quotes.get(symbol) or {})

    def _apply_quote(self, symbol: str, ticker: dict[str, Any]) -> None:
        try:
            bid, ask = float(ticker.get("bid") or 0), float(ticker.get("ask") or 0)
        except (TypeError, ValueError):
            bid = ask = 0.0
        if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= 0 or bid > ask:
            self._metrics.md_dropped.labels("bad_quote").inc()
            return
        q = self._quotes[symbol]
        q.bid, q.ask = bid, ask

    async def _reconnect_pause(self, what: str, symbol: str, err: BaseException,
                               attempt: int) -> None:
        self._metrics.ws_reconnects.inc()
        self._metrics.exchange_errors.labels(error_label(err)).inc()
        pause = backoff_s(attempt, 0.5, float(self._cfg.reconnect_max_s))
        _log.warning("market_data.reconnect", stream=what, symbol=symbol, attempt=attempt,
                     pause_s=round(pause, 3), error=error_label(err))
        await asyncio.sleep(pause)

    async def _rest_fallback(self, symbol: str) -> None:
        """Poll trades over REST while the socket is silent; idle otherwise."""
        silence_ns = int(float(self._cfg.ws_silence_s) * 1e9)
        poll_s = float(self._cfg.rest_poll_s)
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
            await self._poll_rest(symbol)

    async def _poll_rest(self, symbol: str) -> None:
        try:
            trades = await self._ex.fetch_trades(symbol, None, 500, self._rest_params)
            ticker = await self._ex.fetch_bids_asks([symbol])
        except BaseError as err:
            self._metrics.exchange_errors.labels(error_label(err)).inc()
            _log.warning("market_data.rest_failed", symbol=symbol, error=error_label(err))
            return
        self._apply_quote(symbol, (ticker or {}).get(symbol) or {})
        last = self._filters[symbol].last_id
        fresh = [t for t in trades if last is None or (_int_id(t.get("id")) or 0) > last]
        await self._publish(symbol, fresh)
