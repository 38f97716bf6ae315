"""What a swap venue reports besides orders: mark prices, positions' risk, funding.

Run by the ccxt broker (its `run()` group) when any instrument is a swap, and reported as
broker events that the fills task books:
- `MarkPriced` from the venue's mark price stream (`watch_mark_price`): equity values swap
  positions at the venue's mark, not the last trade;
- every `fill_poll_s`, `MarkPriced` with the liquidation price and margin from the positions
  (`fetch_positions`), and `FundingPaid` for each settlement in the funding history
  (`fetch_funding_history`) since this run started; the journal and the books take each
  settlement once, so the same one from two polls, or from the reconciler's backstop (the
  history since the last one booked, at startup and every `reconcile.interval_s`), is booked
  once;
- funding promptly: where ccxt watches the account (`watch_balance`), an account update whose
  reason is a funding settlement (Binance's `ACCOUNT_UPDATE` with `"m": "FUNDING_FEE"`) asks
  for the funding history at once, not at the next poll. The update carries no settlement id,
  so what is booked is still the history's rows, each once by its id; the poll and the
  reconciler's backstop stay (a venue whose history lags its update is booked by them).
A venue call that fails is counted and retried on the next round (the stream with backoff);
refused credentials stop the daemon as everywhere else.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from daemon.clock import Clock
from daemon.config import ExchangeConfig
from daemon.events import BrokerEvent, FundingPaid, MarkPriced
from daemon.model import to_decimal_price
from daemon.ops import log
from daemon.retry import backoff_s
from daemon.venues.ccxt import swaps
from daemon.venues.ccxt.calls import VenueCalls
from daemon.venues.ccxt.client import error_label

_log = log.get("ccxt_broker")
MS = 1_000_000
FUNDING_REASONS = frozenset({"FUNDING_FEE"})  # Binance USDⓈ-M's ACCOUNT_UPDATE reason


def account_update_reason(update: Any) -> str | None:
    """Why the account changed, from `watch_balance`'s raw message (Binance: `a.m`)."""
    info = update.get("info") if isinstance(update, dict) else None
    data = info.get("a") if isinstance(info, dict) else None
    reason = data.get("m") if isinstance(data, dict) else None
    return reason if isinstance(reason, str) else None


class SwapState:
    def __init__(self, exchange: Any, venue: VenueCalls, symbols: list[str],
                 events: asyncio.Queue[BrokerEvent], cfg: ExchangeConfig,
                 clock: Clock) -> None:
        self._ex = exchange
        self._venue = venue
        self._symbols = symbols
        self._events = events
        self._cfg = cfg
        self._clock = clock
        self._since_ns = clock.now_ns()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for symbol in self._symbols:
                if self._ex.has.get("watchMarkPrice"):
                    tg.create_task(self._watch_mark(symbol), name=f"ws_mark:{symbol}")
            tg.create_task(self._poll(), name="rest_swap_state")
            if self._ex.has.get("watchBalance"):
                tg.create_task(self._watch_account(), name="ws_account")

    async def funding(self, symbol: str, since_ns: int) -> list[FundingPaid]:
        return list(await self._venue.ask(
            "fetch_funding_history", functools.partial(
                self._ex.fetch_funding_history, symbol, since_ns // MS, 1000),
            lambda reply: swaps.funding_events(reply, symbol)))

    async def _poll(self) -> None:
        while True:
            await self._clock.sleep(self._cfg.fill_poll_s)
            await self._venue.wait_backoff()
            try:
                marks = await self._venue.ask(
                    "fetch_positions", lambda: self._ex.fetch_positions(self._symbols),
                    lambda reply: swaps.position_marks(reply, self._symbols,
                                                       self._clock.now_ns()))
                for mark in marks:
                    await self._events.put(mark)
                await self._report_funding()
            except Exception as err:  # counted by `ask`; the next round asks again
                _log.warning("swap_state.poll_failed", error=str(err)[:300])

    async def _report_funding(self) -> None:
        for symbol in self._symbols:
            for paid in await self.funding(symbol, self._since_ns):
                await self._events.put(paid)

    async def _watch_account(self) -> None:
        attempt = 0
        while True:
            try:
                reason = account_update_reason(await self._ex.watch_balance())
            except Exception as err:  # ccxt's, or a message its parser could not read
                self._venue.failed(err)
                attempt += 1
                pause = backoff_s(attempt, 0.5, self._cfg.reconnect_max_s, floor_s=0.1)
                _log.warning("account_stream.reconnect", attempt=attempt,
                             pause_s=round(pause, 3), error=error_label(err))
                await self._clock.sleep(pause)
                continue
            attempt = 0
            if reason not in FUNDING_REASONS:
                continue
            _log.info("funding.announced", reason=reason)
            try:
                await self._venue.wait_backoff()
                await self._report_funding()
            except Exception as err:  # counted by `ask`; the poll asks again
                _log.warning("swap_state.funding_fetch_failed", error=str(err)[:300])

    async def _watch_mark(self, symbol: str) -> None:
        attempt = 0
        while True:
            try:
                ticker = await self._ex.watch_mark_price(symbol)
                price = float(ticker["markPrice"] if ticker.get("markPrice") is not None
                              else ticker["info"]["p"])
                if not price > 0 or price == float("inf"):
                    raise ValueError(f"mark price {price!r}")
            except Exception as err:  # ccxt's, or a message its parser could not read
                self._venue.failed(err)
                attempt += 1
                pause = backoff_s(attempt, 0.5, self._cfg.reconnect_max_s, floor_s=0.1)
                _log.warning("mark_stream.reconnect", symbol=symbol, attempt=attempt,
                             pause_s=round(pause, 3), error=error_label(err))
                await self._clock.sleep(pause)
                continue
            attempt = 0
            await self._events.put(MarkPriced(symbol, to_decimal_price(price),
                                              self._clock.now_ns()))
