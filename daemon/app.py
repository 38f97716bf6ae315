"""The lifecycle: starts the wired components, runs the trading TaskGroup, and shuts down.

The lifecycle reads as a script:
1. `wiring.build` made everything from the validated config (no task has started, no order
   can be sent); `run()` opens the listeners and starts the broker;
2. trading phase: one TaskGroup runs market data, signal, routing, fills, health and the risk
   supervisor until a stop signal arrives or any task fails (the group then cancels the
   others). A halt (breaker, SIGUSR1, control API) does not end this phase: the supervisor
   cancels and flattens inside it while the gate denies new risk;
3. flatten phase, the same for a stop and a crash: a second TaskGroup keeps market data, fills
   and health running while `execution.flatten` cancels orders and closes positions, bounded by
   `shutdown.flatten_timeout_s`;
4. persist the final state, log `shutdown.complete`, and return the exit code.
With a journal on disk, step 2 waits for recovery: the books are rebuilt from the journal and
reconciled with the venue (`reconcile`); until that succeeds nothing trades and the daemon is
not ready, and a stop meanwhile ends it without a flatten (the books are not confirmed).
The components come built and wired from `wiring.build`; this module only runs them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from decimal import Decimal
from typing import Any

import msgspec

from daemon import accel
from daemon.atomic import write_atomic
from daemon.config import MarketSource, resolve_path
from daemon.execution import flatten
from daemon.execution.algos.engine import AlgoEngine
from daemon.execution.decisions import WAKE
from daemon.execution.warmup import warm_up
from daemon.exitcodes import ExitCode
from daemon.handoff import Handoff
from daemon.model import Decision, TickBatch
from daemon.notify import notifier as notify
from daemon.ops import control, log, sdnotify
from daemon.ops.monitor import serve
from daemon.risk.latch import RiskState
from daemon.tasks import algos as algos_task
from daemon.tasks import fills, health, market_data, routing
from daemon.tasks import signal as signal_task
from daemon.venues.base import FatalBrokerError
from daemon.wiring import Parts

QUEUE_SIZE = 1024
# The flatten group as a whole is cut off this long after the flatten's own deadline, should a
# task hang; after it the daemon persists its state and exits, well within EXIT_SLACK_S.
FLATTEN_CUTOFF_S = 5.0
EXIT_SLACK_S = 10.0

_log = log.get("app")


class _StopRequested(Exception):
    """Raised inside the trading group to end it when a stop signal arrives."""


class _FlattenDone(Exception):
    """Raised inside the flatten group to end its helper tasks when the flatten returns."""


def _halt_doc(latch: RiskState) -> dict[str, Any]:
    return {"halted": latch.halted, "reason": latch.halt_reason, "detail": latch.halt_detail,
            "halted_ns": latch.halted_ns}


def crash_cause(group: BaseExceptionGroup[Exception]) -> Exception:
    """The failure that decides the exit code. Task groups nest (a broker's own group inside
    the fills task), so the leaves are searched: refused credentials (77) anywhere win over
    whatever else failed as a consequence; otherwise the first leaf."""
    leaves: list[Exception] = []
    stack: list[Exception | BaseExceptionGroup[Exception]] = list(group.exceptions)
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    return next((e for e in leaves if isinstance(e, FatalBrokerError)), leaves[0])


def _freeze_startup_heap() -> None:
    """Move everything startup made (torch's modules, ccxt's markets: ~190k objects) out of the
    collector's reach. A full collection over them stalls the event loop for ~60 ms — mid-flip,
    if it comes then — and none of them will ever be garbage while the daemon runs."""
    gc.collect()
    gc.freeze()


class Daemon:
    """Every component of one running daemon, wired; `run()` is the whole lifecycle."""

    def __init__(self, parts: Parts) -> None:
        """`parts` from `wiring.build`: nothing here builds or opens anything."""
        self.config = parts.config
        self.clock = parts.clock
        self.metrics = parts.metrics
        self.health = parts.health
        self.inventory = parts.inventory
        self.gate = parts.gate
        self.broker = parts.broker
        self.source = parts.source
        self.journal = parts.journal
        self.router = parts.router
        self.supervisor = parts.supervisor
        self.signals = parts.signals
        self.actions = parts.actions
        self.history = parts.history
        self.walk = parts.walk
        self.reconciler = parts.reconciler
        self.journal_watch = parts.journal_watch
        self._control_token = parts.control_token
        self.notifier = parts.notifier
        assert parts.algos is not None, "wiring.build makes the algo engine"
        self.algos: AlgoEngine = parts.algos
        self.stop = asyncio.Event()
        self._signals_seen = 0

    # --- signals ----------------------------------------------------------------------------

    def on_signal(self, name: str) -> None:
        """Signal handler: set the stop flag and nothing else. Repeats are logged, not obeyed:
        the flatten runs to its deadline whatever arrives meanwhile."""
        self._signals_seen += 1
        if self._signals_seen == 1:
            _log.info("shutdown.requested", signal=name)
            self.stop.set()
        else:
            _log.warning("shutdown.signal_repeated", signal=name,
                         note="flatten continues until flat or its deadline")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig.name)
        loop.add_signal_handler(signal.SIGUSR1, self.supervisor.on_kill_switch, "SIGUSR1")
        loop.add_signal_handler(signal.SIGHUP, self.supervisor.on_reload_signal, "SIGHUP")

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        # The notifier runs around the whole lifecycle: the flatten's outcome and the stop are
        # sent too, within a short flush after the exit code is known.
        async with notify.running(self.notifier):
            return await self._run()

    async def _run(self) -> int:
        self.install_signal_handlers()
        cfg = self.config
        # Everything inside the try: a listener that cannot bind, or a broker that cannot
        # start, still closes the venue connections the wiring opened.
        try:
            async with (serve(self.metrics, self.health, cfg.metrics.host,
                              cfg.metrics.port) as port,
                        control.serve(self.supervisor, cfg, self._control_token,
                                      self.metrics, self.algos)):
                _log.info("daemon.started", mode=cfg.daemon.mode.value, metrics_port=port,
                          venue=cfg.exchange.id if cfg.market.source is MarketSource.EXCHANGE
                          else "sim", equity=self.inventory.equity(),
                          instruments=list(self.inventory.instruments), pid=os.getpid(),
                          strategy=cfg.strategy.class_path, state=self.gate.state.value,
                          order_path=accel.status)
                if self.reconciler is None:
                    self.health.reconciled = True  # an in-memory journal: nothing to reconcile
                else:
                    await self.reconciler.restore()
                    if not await self.reconciler.startup(self.stop):
                        sdnotify.stopping("stopped before reconciliation: no flatten")
                        return self._finish(self.inventory.is_flat(), None)
                    await self.algos.restore()  # the books are the venue's now
                await warm_up(self.signals, self.history, self.clock.now_ns())
                _freeze_startup_heap()
                crash = await self._trade()
                self.supervisor.stopping = True
                flat = await self._flatten()
        finally:
            await self.broker.close()
            await self.source.close()
        return self._finish(flat, crash)

    async def _trade(self) -> BaseException | None:
        ticks: asyncio.Queue[TickBatch] = asyncio.Queue(QUEUE_SIZE)
        decisions: Handoff[Decision] = Handoff()
        crash: BaseException | None = None
        self.health.trading = True

        def wake() -> None:  # an order event for the strategy while the signal task idles
            if ticks.empty():
                ticks.put_nowait(WAKE)

        self.signals.wake = wake
        # Set only while trading, and cleared after: the router would otherwise hold the engine
        # (and the strategy) in a reference cycle that the frozen startup heap never frees.
        self.router.on_rejected = self.signals.on_event
        if self.reconciler is not None:  # fills and ends it books over REST, like streamed ones
            self.reconciler.on_booked = self.signals.on_event
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._market_data(ticks), name="market_data")
                tg.create_task(signal_task.run(self.signals, ticks, decisions, self.clock,
                                               self.settled, self.walk), name="signal")
                tg.create_task(routing.run(self.router, decisions, self.actions),
                               name="routing")
                tg.create_task(fills.run(self.broker, self.inventory, self.metrics,
                                         self.journal, self.signals.on_event,
                                         self.supervisor.on_venue_mark), name="fills")
                tg.create_task(self._health_task(), name="health")
                tg.create_task(algos_task.run(self.algos, self.clock), name="algos")
                tg.create_task(self.supervisor.run(), name="supervisor")
                tg.create_task(self._wait_for_stop(), name="stop")
                if self.reconciler is not None:
                    tg.create_task(self.reconciler.run(), name="reconcile")
                if self.journal_watch is not None:
                    tg.create_task(self.journal_watch.run(), name="journal_watch")
        except* _StopRequested:
            pass
        except* Exception as group:
            crash = crash_cause(group)
            _log.error("task.crashed", error=repr(crash), exc_info=crash)
        finally:
            self.health.trading = False
            self.signals.wake = None
            self.router.on_rejected = None
            if self.reconciler is not None:
                self.reconciler.on_booked = None
        if decisions.pending:
            _log.info("decision.discarded", reason="shutting down")
        return crash

    async def settled(self) -> None:
        """Every order handed to the broker has been acted on and every event it has produced
        so far is booked: what a strategy's next decision must see."""
        while True:
            await self.broker.settled()
            await self.broker.events.join()
            if self.walk is None or self.supervisor.is_quiet:
                return
            # A replay: a breaker tripped (on a mark or on one of these fills); its flatten goes
            # out and fills at this tick, whatever the batch size, before the walk reads on.
            await self.walk.fill_here(True)
            try:
                await self.supervisor.quiet()
            finally:
                await self.walk.fill_here(False)
            if self.supervisor.latched and not self.stop.is_set():
                # Nobody will resume it: a halted replay ends here, as a stop would end it.
                _log.warning("replay.halted", note="the replay ends at the halt")
                self.stop.set()

    async def _market_data(self, out: asyncio.Queue[TickBatch]) -> None:
        await market_data.run(self.source, self.inventory, self.broker, self.metrics, out,
                              walked=self.walk is not None, volume=self.algos.on_volume)
        # Only a finite source (a replay) runs out, once the daemon has processed its last
        # batch: that ends trading the way a stop signal does, so the books end flat.
        _log.info("market_data.ended")
        self.stop.set()

    async def _wait_for_stop(self) -> None:
        await self.stop.wait()
        raise _StopRequested

    def _health_task(self) -> Any:
        return health.run(self.inventory, self.gate, self.metrics, self.clock, self.health,
                          self.config.health.heartbeat_s,
                          self.config.health.stale_data_s, lambda: self.source.path)

    async def _flatten(self) -> bool:
        timeout_s = self.config.shutdown.flatten_timeout_s
        sdnotify.stopping(f"flattening, deadline {timeout_s:g}s")
        # systemd SIGKILLs at TimeoutStopSec: ask it to wait for the flatten's own deadline
        # (EXTEND_TIMEOUT_USEC only ever extends), so a flatten_timeout_s above the unit's stop
        # timeout is not cut short with positions open.
        sdnotify.extend_timeout(timeout_s + FLATTEN_CUTOFF_S + EXIT_SLACK_S)
        result: list[bool] = []

        async def flatten_then_stop() -> None:
            log.bind_task("flatten")
            result.append(await flatten.flatten(
                self.router, self.gate, self.inventory, self.clock, timeout_s,
                algos=self.algos, twap_s=self.config.shutdown.flatten_twap_s))
            raise _FlattenDone

        async def prices_while_flattening() -> None:
            try:
                await market_data.run(self.source, self.inventory, self.broker, self.metrics,
                                      None)
            except Exception as err:
                _log.error("flatten.market_data_failed", error=repr(err))

        try:
            async with asyncio.timeout(timeout_s + FLATTEN_CUTOFF_S):
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(prices_while_flattening(), name="market_data")
                    tg.create_task(fills.run(self.broker, self.inventory, self.metrics,
                                             self.journal,
                                             on_venue_mark=self.supervisor.on_venue_mark),
                                   name="fills")
                    tg.create_task(self._health_task(), name="health")
                    tg.create_task(flatten_then_stop(), name="flatten")
        except* _FlattenDone:
            pass
        except* TimeoutError:
            _log.error("flatten.deadline_exceeded")
        except* Exception as group:
            _log.error("flatten.crashed", error=repr(group.exceptions[0]),
                       exc_info=group.exceptions[0])
        health.update_gauges(self.inventory, self.gate, self.metrics)
        flat = bool(result and result[0]) and self.inventory.is_flat()
        return flat and await flatten.venue_flat(self.broker, self.inventory)

    def _finish(self, flat: bool, crash: BaseException | None) -> int:
        self.supervisor.close()
        positions = {p.symbol: p.qty for p in self.inventory.positions()}
        working = [o.client_order_id for o in self.inventory.working_orders()]
        self._persist(flat, positions, working)
        if isinstance(crash, FatalBrokerError):
            code = ExitCode.AUTH  # the venue refused our credentials: a restart will not help
        elif not flat:
            code = ExitCode.NOT_FLAT
        else:
            code = ExitCode.CRASH if crash is not None else ExitCode.OK
        _log.info("shutdown.complete", flat=flat, positions=positions, working_orders=working,
                  dust=self.inventory.dust(),
                  equity=self.inventory.equity(), cash=self.inventory.cash,
                  realized_pnl=self.inventory.realized_pnl, fees=self.inventory.fees,
                  fills=self.inventory.fill_count, crashed=crash is not None,
                  state=self.gate.state.value, halt_latched=self.supervisor.latched,
                  exit_code=int(code))
        return code

    def _persist(self, flat: bool, positions: dict[str, Decimal], working: list[str]) -> None:
        """Write the final books atomically and durably, so an operator (or the next start) can
        read them whatever happens to the machine after the exit."""
        state_dir = resolve_path(self.config, self.config.daemon.state_dir)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            doc = {"flat": flat, "positions": positions, "working_orders": working,
                   "cash": self.inventory.cash, "equity": self.inventory.equity(),
                   "realized_pnl": self.inventory.realized_pnl, "fees": self.inventory.fees,
                   "state": self.gate.state.value, "ts_ns": self.clock.now_ns(),
                   "halt": _halt_doc(self.supervisor.latch)}
            write_atomic(state_dir / "final_state.json",
                         msgspec.json.format(msgspec.json.encode(doc)))
        except OSError as err:
            _log.error("persist.failed", error=str(err), state_dir=str(state_dir))

