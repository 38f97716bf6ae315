"""The one place that turns a config into a daemon's components.

`tradingd run`, `tradingd replay`, `check-config`, the bench and the tests all come through
here, so they run the same parts wired the same way; only the venue differs:
- `paper_venue`: the paper broker on the simulated market, or on a source the caller brings
  (a replay's recorded trades, a test's scripted ticks);
- `venues.ccxt.startup.exchange_venue` (async: it asks the exchange for its markets, checks
  credentials and balance): the exchange's feed, and in live mode its broker.
`build` then makes the rest: books, gate, router, supervisor, signal engine, the replay walk and,
for a journal that outlives the process, the reconciler. Nothing here starts a task, opens a
listener or sends a request; reading the halt latch is the one thing it does on disk, so that a
latch that cannot be read stops the daemon before anything is logged as started.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from daemon import config as config_mod
from daemon.book.inventory import InventoryManager
from daemon.book.strategy_view import StrategyView
from daemon.clock import Clock, LiveClock, stepper
from daemon.config import Config, ConfigError, InstrumentKind, MarginMode, Mode, resolve_path
from daemon.config_paper import FillModel
from daemon.execution.actions import StrategyActions
from daemon.execution.algos.engine import AlgoEngine
from daemon.execution.decisions import SignalEngine
from daemon.execution.flatten import flatten
from daemon.execution.market_walk import MarketWalk
from daemon.execution.reconcile import Reconciler
from daemon.execution.router import ClientIds, OrderRouter
from daemon.journal.base import OrderJournal
from daemon.journal.memory import MemoryJournal
from daemon.journal.parents import MemoryParents, SqliteParents
from daemon.journal.store import Journal
from daemon.journal.watch import JournalWatch
from daemon.model import Instrument, MarketKind
from daemon.notify import notifier as notify
from daemon.notify.secrets import NotifySecrets
from daemon.ops import control
from daemon.ops.credentials import Credentials
from daemon.ops.health import HealthState
from daemon.ops.metrics import Metrics
from daemon.risk.breakers import JOURNAL, RECONCILIATION
from daemon.risk.gate import RiskGate
from daemon.risk.latch import FILE_NAME, JsonFileStore, RiskStateStore
from daemon.risk.supervisor import RiskSupervisor
from daemon.venues.base import Broker, HistorySource, MarketDataSource
from daemon.venues.paper import PaperBroker
from daemon.venues.paper_margin import FundingSchedule, PaperMargin, SwapTerms, read_rates
from daemon.venues.paper_market import MarketPaperBroker
from daemon.venues.sim import SimMarket
from strategies.base import Strategy, StrategyContext
from strategies.base import load as load_strategy

# Stand-in grid for instruments whose real grid comes from the exchange at startup: lets
# `check-config` validate the strategy without a network connection.
_PLACEHOLDER = Decimal("1e-8")


def instruments_from_config(config: Config) -> dict[str, Instrument]:
    out = {}
    for ic in config.market.instruments:
        base, quote = ic.symbol.split(":", 1)[0].split("/", 1)
        out[ic.symbol] = Instrument(
            symbol=ic.symbol, base=base, quote=quote,
            price_increment=ic.price_increment or _PLACEHOLDER,
            size_increment=ic.size_increment or _PLACEHOLDER,
            min_qty=ic.min_qty if ic.min_qty is not None else Decimal(0),
            max_qty=ic.max_qty or Decimal("1e12"),
            min_notional=ic.min_notional if ic.min_notional is not None else Decimal(0),
            kind=MarketKind.SPOT if ic.market_kind is InstrumentKind.SPOT else MarketKind.MARGIN)
    return out


def strategy(config: Config, instruments: dict[str, Instrument] | None = None,
             config_dir: Path | None = None) -> Strategy[Any]:
    """The configured strategy, its params checked (`ConfigError` names the key). A model file
    in the params resolves against `config_dir` (default: the config file's directory)."""
    ctx = StrategyContext(instruments or instruments_from_config(config),
                          config_dir or Path(config.config_dir))
    return load_strategy(config.strategy.class_path, config.strategy.params, ctx)


def load(path: Path) -> tuple[Config, Strategy[Any]]:
    """Config and strategy from a file, or `ConfigError`."""
    config = config_mod.load(path)
    funding_schedule(config)  # a recorded funding file that cannot be read is a config error
    return config, strategy(config)


class Venue(NamedTuple):
    """Where orders go and prices come from, and what the venue says about them."""

    clock: Clock
    instruments: dict[str, Instrument]
    source: MarketDataSource
    broker: Broker
    metrics: Metrics
    starting_cash: Decimal
    history: HistorySource | None = None  # closed bars for a strategy's warm-up


def paper_venue(config: Config, strategy: Strategy[Any], clock: Clock | None = None,
                source: MarketDataSource | None = None,
                history: HistorySource | None = None) -> Venue:
    """The paper account on the simulated market, or on `source` (a replay, a test's ticks);
    `history`: the warm-up's bars for a `source` (a replay file's trades before its start)."""
    clock = clock or LiveClock()
    instruments = instruments_from_config(config)
    if source is None:
        source = history = SimMarket(config.market.instruments, config.market.sim,
                                     config.market.batch_interval_ms, clock,
                                     strategy.book_depth)
    return Venue(clock, instruments, source, _paper_broker(config, instruments, clock),
                 Metrics(list(instruments)), config.paper.starting_cash, history)


def _paper_broker(config: Config, instruments: dict[str, Instrument], clock: Clock
                  ) -> PaperBroker:
    paper = config.paper
    margin = _paper_margin(config, instruments)
    if paper.fill_model is FillModel.TOUCH:
        return PaperBroker(instruments, paper.fee_bps, paper.slippage_bps, clock, margin)
    return MarketPaperBroker(instruments, paper, clock, margin)


def _on_restored(supervisor: RiskSupervisor, inventory: InventoryManager, broker: Broker
                 ) -> Callable[[RiskStateStore], None]:
    """Once the journal is in the books: the supervisor's risk state, and the paper account's
    swap margin (a journaled position is margined like one this process opened)."""
    margin = broker.margin if isinstance(broker, PaperBroker) else None

    def restored(durable: RiskStateStore) -> None:
        supervisor.on_restored(durable)
        if margin is not None:
            margin.adopt(inventory.positions(), inventory.cash)
    return restored


def _paper_margin(config: Config, instruments: dict[str, Instrument]) -> PaperMargin | None:
    """Swaps' margin, funding and liquidation on the paper account (None: no swap)."""
    paper = config.paper
    terms = {ic.symbol: SwapTerms(ic.venue_leverage, ic.venue_margin_mode is MarginMode.ISOLATED,
                                  ic.leverage is not None)
             for ic in config.market.instruments if ic.market_kind is InstrumentKind.SWAP}
    if not terms:
        return None
    return PaperMargin(terms, instruments, paper.starting_cash, paper.maintenance_margin_rate,
                       funding_schedule(config))


def funding_schedule(config: Config) -> FundingSchedule:
    """The paper account's funding: configured, or recorded (`ConfigError` naming the key)."""
    paper = config.paper
    recorded: list[tuple[int, Decimal]] = []
    if paper.funding_rates is not None:
        try:
            recorded = read_rates(resolve_path(config, paper.funding_rates))
        except ValueError as err:
            raise ConfigError(f"paper.funding_rates: {err}") from None
    return FundingSchedule(paper.funding_interval_s, paper.funding_rate,
                           paper.funding_always_paid, recorded)


class Parts(NamedTuple):
    """Every component of one daemon, wired; `app.Daemon` runs them."""

    config: Config
    config_path: Path | None
    control_token: str | None
    clock: Clock
    metrics: Metrics
    health: HealthState
    inventory: InventoryManager
    gate: RiskGate
    broker: Broker
    source: MarketDataSource
    journal: OrderJournal
    router: OrderRouter
    supervisor: RiskSupervisor
    signals: SignalEngine
    actions: StrategyActions
    history: HistorySource | None
    walk: MarketWalk | None
    reconciler: Reconciler | None
    journal_watch: JournalWatch | None
    notifier: notify.Notifier | None = None  # [notify]: webhooks, Telegram
    algos: AlgoEngine | None = None  # parent orders: TWAP, POV (always built by `build`)


def build(config: Config, strategy: Strategy[Any], venue: Venue,
          journal: OrderJournal | None = None, config_path: Path | None = None,
          control_token: str | None = None,
          notify_secrets: NotifySecrets | None = None) -> Parts:
    """Wire a daemon on `venue`. Without a journal it gets an in-memory one (a replay, the
    bench, a test): the same order path, nothing kept, nothing to reconcile. `config_path` is
    re-read on SIGHUP; `control_token` is required if control is enabled. Raises `StateError`
    if the halt latch cannot be read, `ConfigError` for a control API that cannot be.
    `notify_secrets` (`tradingd run`, a test) turns on `[notify]`'s sinks; without them a replay
    or the bench sends nothing, whatever the config says."""
    if config.control.enabled and not control_token:
        raise ConfigError("control: enabled but no control token")
    control.socket_path(config)  # a bad socket path fails now, before anything starts
    clock = venue.clock
    journal = journal or MemoryJournal(clock.now_ns())
    health = HealthState()
    # The allotted base is the paper account's starting base too: positions count from it.
    inventory = InventoryManager(venue.instruments.values(), venue.starting_cash,
                                 config.exchange.allotted_base)
    margins = {ic.symbol: (ic.venue_leverage, ic.venue_margin_mode is MarginMode.ISOLATED)
               for ic in config.market.instruments if ic.market_kind is InstrumentKind.SWAP}
    gate = RiskGate(config.risk, inventory.view, clock.now_ns(), margins)
    ids = ClientIds(config.daemon.client_id_prefix, journal.run_ns)
    router = OrderRouter(gate, inventory, venue.broker, clock, venue.metrics, ids, journal)
    store = JsonFileStore(resolve_path(config, config.daemon.state_dir) / FILE_NAME)
    parents = SqliteParents(journal) if isinstance(journal, Journal) else MemoryParents()
    algos = AlgoEngine(router, inventory, gate, clock, venue.metrics, parents, config.execution)

    async def flatten_books(timeout_s: float, reason: str) -> bool:
        return await flatten(router, gate, inventory, clock, timeout_s, reason=reason,
                             algos=algos, twap_s=config.shutdown.flatten_twap_s)

    supervisor = RiskSupervisor(config, config_path, gate, inventory, flatten_books, clock,
                                venue.metrics, health, store, store.load(),
                                router.unresolved_orders)
    inventory.set_listener(supervisor)  # the breakers see every mark, fill and rejection
    stepped = stepper(clock)
    # A replay walks each batch tick by tick: marks, breakers, fills as of the tick read.
    walk = None if stepped is None else MarketWalk(
        inventory, supervisor.breakers,
        venue.broker if isinstance(venue.broker, PaperBroker) else None, stepped)
    # A venue that keeps answering garbage trips a breaker, like one that keeps refusing.
    venue.broker.watch_malformed_replies(supervisor.breakers.on_malformed_reply)
    # A journal deleted, replaced or failing halts for good: no trading without a record.
    journal_watch = None if not isinstance(journal, Journal) else JournalWatch(
        journal, venue.metrics, clock,
        lambda detail: supervisor.halt_until_restart("journal_watch", JOURNAL, detail))
    # Only a journal that outlives the process has anything to reconcile. Drift halts through
    # the supervisor: one latch, one way to clear it.
    reconciler = None if not isinstance(journal, Journal) else Reconciler(
        journal, venue.broker, inventory, gate, venue.metrics, health, config.reconcile,
        ids.prefix, lambda detail: supervisor.halt(RECONCILIATION, RECONCILIATION, detail),
        _on_restored(supervisor, inventory, venue.broker))
    # The strategy sees the books and its own orders; its order events come back through the
    # engine (the fills task hands it every booked event; while trading, `app` has the router
    # hand it its own rejections).
    signals = SignalEngine(strategy, StrategyView(inventory, router.owned), clock, router.owned)
    notifier = None if notify_secrets is None else notify.build(
        config, notify_secrets, supervisor, inventory, clock, venue.metrics)
    return Parts(config, config_path, control_token, clock, venue.metrics, health, inventory,
                 gate, venue.broker, venue.source, journal, router, supervisor, signals,
                 StrategyActions(router, inventory, clock, algos), venue.history, walk,
                 reconciler, journal_watch, notifier, algos)


async def exchange_venue(config: Config, creds: Credentials, clock: Clock,
                         spent: dict[str, Decimal], opened: list[Any],
                         base_held: dict[str, Decimal] | None = None
                         ) -> tuple[Venue, Strategy[Any]]:
    """A venue on an exchange (`market.source = "exchange"`): its public feed, and in live mode
    its broker (else the paper account at the exchange's prices). The strategy is built here,
    between the two: it needs the exchange's instruments, and the feed subscribes to books only
    if the strategy asks. Asks the exchange for its markets, and in live mode checks credentials
    and balance (`spent`: what the journal's fills took; `base_held`: the spot base they left
    outside open orders, beside `exchange.allotted_base`): `VenueUnavailable` (69),
    `FatalBrokerError` (77), `ConfigError` (78). `opened` collects every ccxt client made, for
    the caller to close whatever happens. ccxt is imported only here, when a mode needs it."""
    from daemon.venues.ccxt import startup
    from daemon.venues.ccxt.budget import for_exchange
    from daemon.venues.ccxt.client import attach_budget, make_exchange
    from daemon.venues.ccxt.feed import CcxtFeed
    from daemon.venues.ccxt.history import CcxtHistory

    feed_ex = make_exchange(config.exchange, None)  # public data needs no keys
    opened.append(feed_ex)
    instruments = await startup.instruments(feed_ex, config)
    xc = config.exchange
    budget = await for_exchange(feed_ex, clock, xc.request_weight_per_minute,
                                xc.orders_per_10s, xc.orders_per_day)
    attach_budget(feed_ex, budget)
    metrics = Metrics(list(instruments))
    broker: Broker | None = None
    capital = config.paper.starting_cash
    if config.daemon.mode is Mode.LIVE:
        broker, capital = await startup.live_broker(config, creds, instruments, metrics, clock,
                                                    opened, spent, budget, base_held)
    strat = strategy(config, instruments)
    if broker is None:
        broker = _paper_broker(config, instruments, clock)
    source = CcxtFeed(feed_ex, list(instruments), config.exchange, metrics, clock,
                      strat.book_depth)
    return Venue(clock, instruments, source, broker, metrics, capital,
                 CcxtHistory(feed_ex)), strat
