"""Startup for every mode: connect to the venue if the config needs one, then run the daemon.

Exchange-backed modes learn their instruments from `load_markets` (precision, limits, spot or
swap) before the strategy is built, and live mode checks credentials and the free balance
against the allotted capital before any task starts. A failure here sends no order.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon import credentials, log
from daemon.app import Daemon, instruments_from_config
from daemon.broker import ccxt_replies
from daemon.broker.base import Broker, FatalBrokerError
from daemon.ccxt_support import (
    ErrorKind,
    classify,
    error_label,
    instruments_from_markets,
    make_exchange,
)
from daemon.clock import LiveClock
from daemon.config import Config, ConfigError, InstrumentKind, MarketSource, Mode, resolve_path
from daemon.journal import Journal, journal_path, quote_spent
from daemon.metrics import Metrics
from daemon.model import Instrument, MarketKind
from daemon.retry import backoff_s
from strategies.base import StrategyContext
from strategies.base import load as load_strategy

_log = log.get("runtime")
STARTUP_ATTEMPTS = 5


class VenueUnavailable(Exception):
    """The venue could not be reached at startup; a later restart may succeed."""


async def _with_retry(what: str, call: Any, check: Any = lambda reply: reply) -> Any:
    """`call()` until it answers, `check` (raising `MalformedReply`) satisfied with the answer;
    an unreadable answer is retried like a timeout."""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            return check(await call())
        except Exception as err:  # ccxt's errors and whatever its parser raised
            kind = classify(err)
            if kind is ErrorKind.AUTH:
                raise FatalBrokerError("auth", f"{what}: the exchange refused our credentials "
                                       f"({error_label(err)}): check the API key and secret"
                                       ) from None
            if kind not in (ErrorKind.AMBIGUOUS, ErrorKind.RATE_LIMIT, ErrorKind.MALFORMED) or (
                    attempt == STARTUP_ATTEMPTS):
                raise VenueUnavailable(f"{what}: {error_label(err)}: {err}") from None
            pause = backoff_s(attempt, 0.5, 5.0)
            _log.warning("startup.retry", what=what, attempt=attempt, error=error_label(err),
                         pause_s=round(pause, 3))
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def _instruments(exchange: Any, cfg: Config) -> dict[str, Instrument]:
    markets = await _with_retry("load_markets", exchange.load_markets)
    instruments = instruments_from_markets(markets, [i.symbol for i in cfg.market.instruments],
                                           exchange.precisionMode)
    for ic in cfg.market.instruments:
        venue = instruments[ic.symbol].kind
        if ic.kind is not None and (venue is MarketKind.SPOT) != (ic.kind is InstrumentKind.SPOT):
            raise ConfigError(f"market.instruments: {ic.symbol} is kind = \"{ic.kind.value}\" "
                              f"in the config but a {venue.value} market on the exchange")
    return instruments


async def _check_balance(exchange: Any, instruments: dict[str, Instrument],
                         capital: Decimal, spent: dict[str, Decimal]) -> None:
    """The capital not yet in positions (`spent` per the journal's fills) must be free."""
    # A garbage answer must not read as an empty account (a false "capital above balance").
    balance = await _with_retry("fetch_balance", exchange.fetch_balance, ccxt_replies.balance)
    for quote in {i.quote for i in instruments.values()}:
        free = Decimal(str((balance.get("free") or {}).get(quote) or 0))
        need = capital - max(spent.get(quote, Decimal(0)), Decimal(0))
        if free < need:
            held = f" ({capital - need} of it in positions)" if need != capital else ""
            raise ConfigError(f"exchange.allotted_capital: {capital} {quote}{held} is more "
                              f"than the account's free balance of {free} {quote}")


async def run(cfg: Config, config_path: Path | None = None,
              control_token: str | None = None) -> int:
    live = cfg.daemon.mode is Mode.LIVE
    creds = credentials.load()
    if live and not creds.complete:
        raise ConfigError("exchange: live mode needs API credentials: set TRADINGD_API_KEY and "
                          "TRADINGD_API_SECRET, or api_key and api_secret files in "
                          "$CREDENTIALS_DIRECTORY (systemd LoadCredential=)")
    # Before any connection: an unreadable journal (JournalError, exit 78) must stop the
    # daemon before it could send anything.
    journal = await Journal.open(journal_path(resolve_path(cfg, cfg.daemon.state_dir)))
    try:
        return await _run(cfg, creds, journal, config_path, control_token)
    finally:
        await journal.close()


async def _run(cfg: Config, creds: credentials.Credentials, journal: Journal,
               config_path: Path | None, control_token: str | None) -> int:
    clock = LiveClock()
    live = cfg.daemon.mode is Mode.LIVE
    opened: list[Any] = []
    try:
        source, broker, instruments = None, None, instruments_from_config(cfg)
        metrics: Metrics | None = None
        if cfg.market.source is MarketSource.EXCHANGE:
            from daemon.marketdata.ccxt_feed import CcxtFeed

            feed_ex = make_exchange(cfg.exchange, None)  # public data needs no keys
            opened.append(feed_ex)
            instruments = await _instruments(feed_ex, cfg)
            metrics = Metrics(list(instruments))
        capital = cfg.paper.starting_cash
        if live:
            spent = quote_spent((await journal.load()).fills)
            broker, capital = await _live_broker(cfg, creds, instruments, metrics, clock, opened,
                                                 spent)
        strategy = load_strategy(cfg.strategy.class_path, cfg.strategy.params,
                                 StrategyContext(instruments, Path(cfg.config_dir)))
        if cfg.market.source is MarketSource.EXCHANGE:
            assert metrics is not None
            # After the strategy: the feed subscribes to books only if it asks for them.
            source = CcxtFeed(feed_ex, list(instruments), cfg.exchange, metrics, clock,
                              strategy.book_depth)
        # Reads the halt latch: a state error must stop us before anything is logged as started.
        daemon = Daemon(cfg, strategy, clock=clock, source=source, broker=broker,
                        instruments=instruments, metrics=metrics, starting_cash=capital,
                        config_path=config_path, control_token=control_token,
                        journal=journal)
    except BaseException:
        for ex in opened:
            await ex.close()
        raise
    _log.info("startup.venue", mode=cfg.daemon.mode.value, source=cfg.market.source.value,
              exchange=cfg.exchange.id if source else None, credentials=creds.source,
              instruments={s: i.kind.value for s, i in instruments.items()})
    return await daemon.run()


def check_live_markets(instruments: dict[str, Instrument]) -> None:
    """Live trading is spot only. A linear swap's signed position is booked, but never checked
    against the venue's positions (reconciliation compares spot balances) and has not been
    proven against a venue: real money waits for both. Paper mode may use swap markets."""
    for symbol, inst in instruments.items():
        if inst.kind is not MarketKind.SPOT:
            raise ConfigError(f"market.instruments: {symbol} is a {inst.kind.value} market; "
                              "live mode trades spot markets only (use daemon.mode = \"paper\")")


async def _live_broker(cfg: Config, creds: credentials.Credentials,
                       instruments: dict[str, Instrument], metrics: Metrics | None,
                       clock: LiveClock, opened: list[Any],
                       spent: dict[str, Decimal]) -> tuple[Broker, Decimal]:
    from daemon.broker.ccxt_broker import CcxtBroker

    assert cfg.exchange.allotted_capital is not None and metrics is not None
    check_live_markets(instruments)
    ex = make_exchange(cfg.exchange, creds)
    opened.append(ex)
    await _with_retry("load_markets", ex.load_markets)
    capital = cfg.exchange.allotted_capital
    await _check_balance(ex, instruments, capital, spent)
    if any(i.kind is MarketKind.SPOT for i in instruments.values()):
        _log.info("startup.spot", note="spot is long-only: a short signal means flat, and only "
                  "base bought by this daemon is ever sold")
    return CcxtBroker(ex, instruments, cfg.exchange, metrics, clock,
                      cfg.daemon.client_id_prefix), capital
