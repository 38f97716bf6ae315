"""Connecting to an exchange at startup, before any task runs and before any order can be sent.

Exchange-backed modes learn their instruments from `load_markets` (precision, limits, spot or
swap) before the strategy is built; live mode checks the credentials, that the free quote
balance covers the allotted capital and that the free base covers the allotted base. Transient
failures are retried a few times with backoff; refused credentials are a `FatalBrokerError`
(exit 77), anything still failing after the retries `VenueUnavailable` (exit 69).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from daemon.clock import Clock
from daemon.config import Config, ConfigError, InstrumentKind
from daemon.model import Instrument, MarketKind
from daemon.ops import credentials, log
from daemon.ops.metrics import Metrics
from daemon.retry import backoff_s
from daemon.venues.base import FatalBrokerError
from daemon.venues.ccxt import entry, swaps
from daemon.venues.ccxt import replies as ccxt_replies
from daemon.venues.ccxt.broker import CcxtBroker
from daemon.venues.ccxt.budget import RequestBudget
from daemon.venues.ccxt.client import (
    ErrorKind,
    attach_budget,
    classify,
    error_label,
    instruments_from_markets,
    make_exchange,
)

_log = log.get("runtime")
STARTUP_ATTEMPTS = 5
SWAP_RESTART_SLACK = Decimal("0.01")


class VenueUnavailable(Exception):
    """The venue could not be reached at startup; a later restart may succeed."""


async def with_retry(what: str, call: Any, check: Any = lambda reply: reply,
                     refused: Any = None) -> Any:
    """`call()` until it answers, `check` (raising `MalformedReply`) satisfied with the answer;
    an unreadable answer is retried like a timeout. `refused(err)`: the exception to raise
    when the venue refuses (not transient), instead of `VenueUnavailable`."""
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            return check(await call())
        except Exception as err:  # ccxt's errors and whatever its parser raised
            kind = classify(err)
            if kind is ErrorKind.AUTH:
                raise FatalBrokerError("auth", f"{what}: the exchange refused our credentials "
                                       f"({error_label(err)}): check the API key and secret"
                                       ) from None
            transient = kind in (ErrorKind.AMBIGUOUS, ErrorKind.RATE_LIMIT, ErrorKind.MALFORMED)
            if not transient and refused is not None:
                raise refused(err) from None
            if not transient or attempt == STARTUP_ATTEMPTS:
                raise VenueUnavailable(f"{what}: {error_label(err)}: {err}") from None
            pause = backoff_s(attempt, 0.5, 5.0)
            _log.warning("startup.retry", what=what, attempt=attempt, error=error_label(err),
                         pause_s=round(pause, 3))
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def instruments(exchange: Any, cfg: Config) -> dict[str, Instrument]:
    markets = await with_retry("load_markets", exchange.load_markets)
    found = instruments_from_markets(markets, [i.symbol for i in cfg.market.instruments],
                                     exchange.precisionMode)
    for ic in cfg.market.instruments:
        venue = found[ic.symbol].kind
        if ic.kind is not None and (venue is MarketKind.SPOT) != (ic.kind is InstrumentKind.SPOT):
            raise ConfigError(f"market.instruments: {ic.symbol} is kind = \"{ic.kind.value}\" "
                              f"in the config but a {venue.value} market on the exchange")
    return found


async def check_balance(exchange: Any, instruments: dict[str, Instrument],
                        capital: Decimal, spent: dict[str, Decimal],
                        allotted_base: dict[str, Decimal] | None = None,
                        base_held: dict[str, Decimal] | None = None) -> None:
    """The capital not yet in positions (`spent` per the journal's fills) must be free. On a
    swap venue the capital is margin: the futures wallet's available balance plus the margin
    already in positions (a restart with a position open) must cover it, less what the
    journal shows the daemon lost (fees, realized losses, funding paid). A restart allows
    `SWAP_RESTART_SLACK` of the capital more: funding settled while the daemon was stopped is
    only booked once it runs (the reconciler reads the venue's history)."""
    # A garbage answer must not read as an empty account (a false "capital above balance").
    balance = await with_retry("fetch_balance", exchange.fetch_balance, ccxt_replies.balance)
    swaps = all(i.kind is MarketKind.MARGIN for i in instruments.values())
    for quote in {i.quote for i in instruments.values()}:
        free = Decimal(str((balance.get("free") or {}).get(quote) or 0))
        if swaps:
            free += Decimal(str((balance.get("used") or {}).get(quote) or 0))
        need = capital - max(spent.get(quote, Decimal(0)), Decimal(0))
        slack = capital * SWAP_RESTART_SLACK if swaps and quote in spent else Decimal(0)
        if free < need - slack:
            held = f" ({capital - need} of it spent or in positions)" if need != capital else ""
            raise ConfigError(f"exchange.allotted_capital: {capital} {quote}{held} is more "
                              f"than the account's free balance of {free} {quote}")
    check_base(balance, allotted_base or {}, base_held or {})


def check_base(balance: Any, allotted: dict[str, Decimal], held: dict[str, Decimal]) -> None:
    """Spot: the free base must cover the allotted base plus what the journal says the daemon
    holds outside its open orders (`held`, negative once it sold some of the allotment)."""
    for asset, qty in sorted(allotted.items()):
        free = Decimal(str((balance.get("free") or {}).get(asset) or 0))
        need = qty + held.get(asset, Decimal(0))
        if free < need:
            own = (f" ({need - qty:+} {asset} by its own fills and open sells)"
                   if need != qty else "")
            raise ConfigError(f"exchange.allotted_base.{asset}: {qty} {asset}{own} is more "
                              f"than the account's free balance of {free} {asset}")


def check_live_markets(instruments: dict[str, Instrument]) -> None:
    """One account type per daemon: spot balances and swap positions are reconciled
    differently, and a ccxt client trades one of them (`binance` spot, `binanceusdm` swaps)."""
    kinds = {i.kind for i in instruments.values()}
    if len(kinds) > 1:
        raise ConfigError("market.instruments: live mode trades either spot or swap markets, "
                          "not both (one exchange account type per daemon)")


async def live_broker(cfg: Config, creds: credentials.Credentials,
                      instruments: dict[str, Instrument], metrics: Metrics,
                      clock: Clock, opened: list[Any], spent: dict[str, Decimal],
                      budget: RequestBudget | None = None,
                      base_held: dict[str, Decimal] | None = None
                      ) -> tuple[CcxtBroker, Decimal]:
    """The exchange's broker for live mode, and the capital it may trade. `opened` collects
    the ccxt clients made, for the caller to close whatever happens. `budget`: the request
    limits its calls spend from, shared with the feed's client. `base_held`: spot base the
    journal says the daemon holds outside its open orders (`journal.holdings`)."""
    assert cfg.exchange.allotted_capital is not None
    check_live_markets(instruments)
    ex = make_exchange(cfg.exchange, creds)
    opened.append(ex)
    entry.check_supported(ex, cfg.exchange)
    if budget is not None:
        attach_budget(ex, budget)
    await with_retry("load_markets", ex.load_markets)
    await swaps.setup(ex, cfg, instruments, with_retry)
    capital = cfg.exchange.allotted_capital
    await check_balance(ex, instruments, capital, spent, cfg.exchange.allotted_base, base_held)
    if any(i.kind is MarketKind.SPOT for i in instruments.values()):
        _log.info("startup.spot", note="spot is long-only: a short signal means flat, and only "
                  "base bought by this daemon is ever sold")
    return CcxtBroker(ex, instruments, cfg.exchange, metrics, clock,
                      cfg.daemon.client_id_prefix), capital
