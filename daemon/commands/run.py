"""`tradingd run`: open the journal, set up the venue the config names, run the daemon.

Before anything connects: the config and strategy are validated and the journal opened (an
unreadable one is exit 78 and must stop the daemon before it could send anything). Exchange
modes then ask the exchange for its markets (and in live mode check credentials and balance,
`venues.ccxt.startup`); a failure there sends no order. Everything is built by `wiring`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from daemon import wiring
from daemon.app import Daemon
from daemon.clock import LiveClock
from daemon.config import Config, ConfigError, MarketSource, Mode, resolve_path
from daemon.exitcodes import ExitCode
from daemon.journal.holdings import base_held
from daemon.journal.store import Journal, journal_path, quote_spent
from daemon.notify import secrets as notify_secrets
from daemon.ops import control_token, credentials, log, startup_signals

_log = log.get("runtime")


def main(args: argparse.Namespace, fail: Any) -> int:
    path: Path = args.config
    cfg, _ = wiring.load(path)  # validates the strategy before anything connects anywhere
    token = control_token.require() if cfg.control.enabled else None
    # Notifications of info events (fills, the summary) reach the notifier whatever the level.
    log.configure(os.environ.get("LOG_LEVEL", cfg.daemon.log_level),
                  tap_level="info" if cfg.notify.enabled else None)
    if (early := startup_signals.requested()) is not None:
        return _stopped_before_start(early)
    import uvloop

    from daemon.venues.base import FatalBrokerError
    from daemon.venues.ccxt.startup import VenueUnavailable

    async def start() -> int:
        startup_signals.on_loop()  # until Daemon.run installs its own handlers
        return await run(cfg, config_path=path, control_token=token)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(start())
    except asyncio.CancelledError:
        if (early := startup_signals.requested()) is None:
            raise
        return _stopped_before_start(early)
    except VenueUnavailable as err:
        fail(f"exchange unavailable: {err}")
        return ExitCode.UNAVAILABLE
    except FatalBrokerError as err:
        fail(str(err))
        return ExitCode.AUTH


def _stopped_before_start(signal_name: str) -> int:
    """A stop signal came before the daemon's handlers: nothing traded, nothing to flatten."""
    log.get("cli").info("shutdown.before_start", signal=signal_name, exit_code=0,
                        note="stopped while starting: nothing traded, no order sent")
    return int(ExitCode.OK)


async def run(cfg: Config, config_path: Path | None = None,
              control_token: str | None = None) -> int:
    live = cfg.daemon.mode is Mode.LIVE
    creds = credentials.load()
    notify = notify_secrets.load(cfg)  # a missing bot token or HMAC key: 78, naming the key
    if live and not creds.complete:
        raise ConfigError("exchange: live mode needs API credentials: set TRADINGD_API_KEY and "
                          "TRADINGD_API_SECRET, or api_key and api_secret files in "
                          "$CREDENTIALS_DIRECTORY (systemd LoadCredential=)")
    # Before any connection: an unreadable journal (JournalError, exit 78) must stop the
    # daemon before it could send anything.
    journal = await Journal.open(journal_path(resolve_path(cfg, cfg.daemon.state_dir)))
    try:
        return await _run(cfg, creds, journal, config_path, control_token, notify)
    finally:
        await journal.close()


async def _run(cfg: Config, creds: credentials.Credentials, journal: Journal,
               config_path: Path | None, control_token: str | None,
               notify: notify_secrets.NotifySecrets) -> int:
    clock = LiveClock()
    exchange = cfg.market.source is MarketSource.EXCHANGE
    opened: list[Any] = []
    try:
        if exchange:
            snap = await journal.load() if cfg.daemon.mode is Mode.LIVE else None
            spent = quote_spent(snap.fills, snap.funding) if snap is not None else {}
            held = base_held(snap.fills, snap.unsettled) if snap is not None else {}
            venue, strategy = await wiring.exchange_venue(cfg, creds, clock, spent, opened,
                                                          held)
        else:
            strategy = wiring.strategy(cfg)
            venue = wiring.paper_venue(cfg, strategy, clock)
        # Reads the halt latch: a state error must stop us before anything is logged as started.
        daemon = Daemon(wiring.build(cfg, strategy, venue, journal, config_path,
                                     control_token, notify))
    except BaseException:
        for ex in opened:
            await ex.close()
        raise
    _log.info("startup.venue", mode=cfg.daemon.mode.value, source=cfg.market.source.value,
              exchange=cfg.exchange.id if exchange else None, credentials=creds.source,
              instruments={s: i.kind.value for s, i in venue.instruments.items()})
    return await daemon.run()
