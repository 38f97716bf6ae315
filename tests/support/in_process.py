"""A daemon in this process, wired as `tradingd replay` wires one: the paper account on a
source the test brings (the simulated market if none), an in-memory journal unless the test
brings one. Run it with `await daemon.run()`."""

from __future__ import annotations

from typing import Any

from daemon import wiring
from daemon.app import Daemon
from daemon.clock import Clock
from daemon.config import Config
from daemon.journal.base import OrderJournal
from daemon.notify.secrets import NotifySecrets
from daemon.venues.base import HistorySource, MarketDataSource
from strategies.base import Strategy


def paper_daemon(cfg: Config, strategy: Strategy[Any], clock: Clock | None = None,
                 source: MarketDataSource | None = None,
                 journal: OrderJournal | None = None,
                 notify_secrets: NotifySecrets | None = None,
                 history: HistorySource | None = None) -> Daemon:
    """`notify_secrets` turns on the config's `[notify]` sinks, as `tradingd run` does;
    `history`: the warm-up's bars (a replay file's past, as `tradingd replay --start`)."""
    venue = wiring.paper_venue(cfg, strategy, clock, source, history)
    return Daemon(wiring.build(cfg, strategy, venue, journal, notify_secrets=notify_secrets))
