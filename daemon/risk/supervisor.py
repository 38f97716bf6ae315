"""The risk supervisor: owns the trading state's transitions while the daemon runs.

- halt (a circuit breaker, SIGUSR1, `POST /halt`): HALTED at once, the latch saved to disk, then
  cancel everything and flatten; the daemon stays up, reporting, until an operator resumes;
- flatten (`POST /flatten`): REDUCING (not latched), cancel everything and flatten;
- resume (`POST /resume`): ACTIVE, the latch cleared, the breakers measure from the current
  equity (the losses so far are accepted by whoever resumed);
- reload (SIGHUP): the `[risk]` section of the config file replaces the limits, or the old
  limits stay and a log line says why.

State changes are synchronous, so the next intent already meets the new state. The slow parts
(cancel and flatten through execution's `flatten`, handed in as a callable; the reload; saving
what the breakers carry) run in `run()`, a task of the trading TaskGroup: a signal or HTTP
handler changes a flag and returns.

It is the inventory's `BooksListener`: every mark, fill and rejection goes to the breakers, and
the end of the journal replay (`on_restored`) brings the journal's copy of the risk state. The
latch and the carried numbers are kept in `risk_state.json` and, with a journal, in the journal
too; at startup the stricter of the two copies holds (`latch.stricter`), and from then on
every save goes to both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from daemon import config as config_mod
from daemon.book.inventory import InventoryManager
from daemon.clock import Clock
from daemon.config import Config, ConfigError, RiskConfig
from daemon.model import Fill, Order, TradingState
from daemon.ops import log, sdnotify
from daemon.ops.health import HealthState
from daemon.ops.metrics import Metrics
from daemon.risk.breakers import (
    KILL_SWITCH,
    LIQUIDATION,
    TRIP_LABELS,
    Breaker,
    CircuitBreakers,
)
from daemon.risk.gate import RiskGate
from daemon.risk.latch import RiskState, RiskStateStore, StateError, stricter

_log = log.get("supervisor")
SAVE_INTERVAL_S = 5.0  # how stale the carried-over daily PnL may be after a hard kill


# Cancel every working order and close every position, within `timeout_s`; True if flat.
# Execution's flatten, handed in by the wiring: risk decides when, execution knows how.
Flatten = Callable[[float, str], Awaitable[bool]]


class RiskSupervisor:
    def __init__(self, config: Config, config_path: Path | None, gate: RiskGate,
                 inventory: InventoryManager, flatten: Flatten, clock: Clock,
                 metrics: Metrics, health: HealthState, store: RiskStateStore,
                 saved: RiskState | None,
                 unresolved: Callable[[], list[Any]] = lambda: []) -> None:
        """`saved`: what `store` held at startup (the wiring reads it: a `StateError` stops
        the daemon before anything starts). The wiring also makes this the inventory's
        listener."""
        self._config = config
        self._config_path = config_path
        self._gate = gate
        self._inventory = inventory
        self._flatten_books = flatten
        self._clock = clock
        self._metrics = metrics
        self._health = health
        self._stores = [store]  # the journal's copy joins when the books are restored
        self._unresolved = unresolved  # the broker's creates of unknown outcome, for /status
        self._wake = asyncio.Event()
        self._quiet = asyncio.Event()  # no flatten asked for or running
        self._quiet.set()
        self._reload_wanted = False
        self._flatten_reason: str | None = None
        self.flattening = False
        self.stopping = False  # the trading phase is over; the stop's own flatten runs
        for label in TRIP_LABELS:  # zeros from the start: alerts see a series, not a gap
            metrics.breaker_trips.labels(label)
        self._until_restart: str | None = None  # why resume is refused (the journal is lost)
        self._near_liquidation: set[str] = set()  # swaps whose liquidation breaker tripped
        self._loaded = saved
        self._latch = RiskState()
        self._saved: RiskState | None = None  # what is on disk, without its timestamp
        self.breakers = CircuitBreakers(config.risk, inventory.view, clock, metrics,
                                        self._on_trip, saved, inventory.starting_cash)
        self._apply_latch(saved, str(store.path))
        self._publish_state()
        self._publish_limits()
        # No evaluation yet: with a journal the books are about to be restored, and equity
        # before that is only the starting capital. `on_restored`, or else `run`, evaluates.

    # --- BooksListener: the breakers see every booked event ---------------------------------

    def on_mark(self, symbol: str) -> None:
        self.breakers.on_mark(symbol)

    def on_fill(self, fill: Fill) -> None:
        self.breakers.on_fill(fill)

    def on_rejected(self, order: Order) -> None:
        self.breakers.on_rejected(order)

    def on_venue_mark(self, symbol: str) -> None:
        """Swaps, on each mark the venue reports: the liquidation breaker. A mark within
        `risk.liquidation_breaker_pct` of the liquidation price the venue reports for our
        position stops new risk (REDUCING) and flattens, before the venue liquidates at a
        worse price and charges its fee. Trips once per approach: armed again once flat."""
        pct = self._config.risk.liquidation_breaker_pct
        liq = self._inventory.liquidation_price(symbol)
        mark = self._inventory.valuation_mark(symbol)
        if not self._inventory.position(symbol):
            self._near_liquidation.discard(symbol)
            return
        if not pct or not liq or mark is None or mark <= 0 or symbol in self._near_liquidation:
            return
        distance_pct = abs(mark - liq) / mark * 100
        if distance_pct >= pct:
            return
        self._near_liquidation.add(symbol)
        self._metrics.breaker_trips.labels(LIQUIDATION).inc()
        _log.error("breaker.liquidation", symbol=symbol, mark=mark, liquidation_price=liq,
                   distance_pct=round(distance_pct, 3), limit_pct=pct,
                   position=self._inventory.position(symbol), action="reducing; flatten")
        self.flatten(LIQUIDATION)

    def on_restored(self, durable: RiskStateStore) -> None:
        """The books were rebuilt from the journal: merge its copy of the risk state with the
        file's (the stricter holds), latch if either says halted, and let the breakers measure
        from what was carried. Both copies are then rewritten, so they agree again."""
        journal_copy = durable.load()
        merged = stricter(self._loaded, journal_copy)
        self._stores.append(durable)
        self._apply_latch(merged, str(durable.path))
        self._publish_state()
        self.breakers.restored(merged)
        self._saved = None
        self._save()

    def _apply_latch(self, saved: RiskState | None, source: str) -> None:
        if saved is None or not saved.halted or self._latch.halted:
            return
        self._latch = RiskState(halted=True, halt_reason=saved.halt_reason,
                                halt_detail=saved.halt_detail, halted_ns=saved.halted_ns)
        self._gate.set_state(TradingState.HALTED)
        _log.error("halt.latched", reason=saved.halt_reason, detail=saved.halt_detail,
                   since_ns=saved.halted_ns, latched_in=source,
                   note="halted by a previous run; `tradingd ctl resume` (running) or "
                   "`tradingd clear-halt` (stopped) clears it")
        self._request_flatten("latched halt")

    # --- transitions ------------------------------------------------------------------------

    def halt(self, source: str, breaker: str, detail: str) -> bool:
        """Halt, latch, and ask for cancel + flatten. True if this call changed the state."""
        changed = self._gate.state is not TradingState.HALTED or not self._latch.halted
        self._gate.set_state(TradingState.HALTED)
        if changed:
            self._metrics.breaker_trips.labels(breaker).inc()
            self._latch = RiskState(halted=True, halt_reason=breaker, halt_detail=detail,
                                    halted_ns=self._clock.now_ns())
            self._save()
            _log.error("trading.halted", source=source, breaker=breaker, detail=detail)
        self._publish_state()
        self._request_flatten(f"halt:{breaker}")
        return changed

    def halt_until_restart(self, source: str, breaker: str, detail: str) -> bool:
        """Halt for a reason a resume cannot clear (the journal is lost: nothing could be
        recorded); only a restart, which checks the state afresh, trades again."""
        self._until_restart = detail
        return self.halt(source, breaker, detail)

    def flatten(self, source: str) -> TradingState:
        """No new risk (REDUCING unless halted), cancel everything, close every position."""
        if self._gate.state is TradingState.ACTIVE:
            self._gate.set_state(TradingState.REDUCING)
            _log.warning("trading.reducing", source=source)
        self._publish_state()
        self._request_flatten(f"flatten:{source}")
        return self._gate.state

    def resume(self, source: str) -> str | None:
        """Back to ACTIVE and clear the latch; or the reason it cannot happen now."""
        if self.stopping:
            return "the daemon is shutting down"
        if self._until_restart is not None:
            return f"{self._until_restart}: a resume cannot clear this; restart the daemon"
        if self.flattening or self._flatten_reason is not None:
            return "a flatten is running; resume when it has finished"
        previous = self._gate.state
        was = self._latch
        self._gate.set_state(TradingState.ACTIVE)
        self._latch = RiskState()
        self.breakers.rebaseline()
        self._save()
        self._publish_state()
        _log.warning("trading.resumed", source=source, previous_state=previous.value,
                     cleared_halt_reason=was.halt_reason, cleared_halt_detail=was.halt_detail,
                     equity=self._inventory.equity())
        return None

    def _on_trip(self, breaker: Breaker, detail: str) -> None:
        if self._gate.state is TradingState.HALTED and self._latch.halted:
            return  # already halted: the condition holding on is no news
        _log.error("circuit_breaker.tripped", breaker=breaker.value, detail=detail)
        self.halt("circuit_breaker", breaker.value, detail)

    # --- signal handlers: a flag, or the halt itself (a state flag and a small file) --------

    def on_kill_switch(self, signal_name: str) -> None:
        self.halt(signal_name, KILL_SWITCH, f"{signal_name}: kill switch")

    def on_reload_signal(self, signal_name: str) -> None:
        _log.info("config.reload_requested", signal=signal_name)
        self._reload_wanted = True
        self._wake.set()

    # --- the task ---------------------------------------------------------------------------

    async def run(self) -> None:
        log.bind_task("supervisor")
        self.breakers.evaluate()  # a carried loss beyond a (lowered) limit trips before trading
        while True:
            try:
                # Not wait_for: on 3.11 it returns the event's result instead of raising when
                # the group's cancel and the wake (a halt with a stop or a crash) land in the
                # same step, and the trading group would never exit.
                async with asyncio.timeout(SAVE_INTERVAL_S):
                    await self._wake.wait()
            except TimeoutError:
                self._save(durable=False)
                continue
            self._wake.clear()
            if self._reload_wanted:
                self._reload_wanted = False
                self.reload()
            if self._flatten_reason is not None:
                reason, self._flatten_reason = self._flatten_reason, None
                await self._cancel_and_flatten(reason)
            if self._flatten_reason is None:
                self._quiet.set()

    @property
    def is_quiet(self) -> bool:
        return self._quiet.is_set()

    async def quiet(self) -> None:
        """Until no flatten is asked for or running: a replay waits here at the tick a breaker
        tripped, so the flatten's orders go out at that tick, whatever the batch size."""
        await self._quiet.wait()

    async def _cancel_and_flatten(self, reason: str) -> None:
        self.flattening = True
        try:
            flat = await self._flatten_books(self._config.shutdown.flatten_timeout_s,
                                             reason)
        finally:
            self.flattening = False
        positions = {p.symbol: p.qty for p in self._inventory.positions() if p.qty}
        if flat:
            _log.info("flatten.done", reason=reason, state=self._gate.state.value)
        else:
            _log.error("flatten.incomplete", reason=reason, positions=positions,
                       working_orders=len(self._inventory.working_orders()),
                       note="not flat at the deadline; `tradingd ctl flatten` tries again")

    def _request_flatten(self, reason: str) -> None:
        if self.stopping:
            return  # the stop's own flatten is already running; this task is not
        self._flatten_reason = reason
        self._quiet.clear()
        self._wake.set()

    def close(self) -> None:
        """At exit: save what the breakers measured, with the latch as it stands."""
        self._save()

    # --- reload -----------------------------------------------------------------------------

    def reload(self) -> None:
        """Reload `[risk]`, telling systemd (RELOADING=1, then READY=1) either way."""
        sdnotify.reloading()
        try:
            self._reload()
        finally:
            sdnotify.ready(f"{self._gate.state.value}; risk limits reloaded")

    def _reload(self) -> None:
        if self._config_path is None:
            _log.warning("config.reload_unavailable", note="started without a config file")
            return
        try:
            new = config_mod.load(self._config_path)
        except ConfigError as err:
            _log.error("config.reload_rejected", path=str(self._config_path), error=str(err),
                       note="the old limits stay")
            return
        old = self._config
        changes = _risk_changes(old.risk, new.risk)
        ignored = [name for name in old.__struct_fields__
                   if name not in ("risk", "config_dir") and getattr(old, name) != getattr(new,
                                                                                         name)]
        # initial_state applies at startup only; the running state belongs to the supervisor.
        risk = msgspec.structs.replace(new.risk, initial_state=old.risk.initial_state)
        self._config = msgspec.structs.replace(old, risk=risk)
        self._gate.reconfigure(risk, self._clock.now_ns())
        self.breakers.configure(risk)
        self._publish_limits()
        _log.info("config.reloaded", path=str(self._config_path), changes=changes)
        if ignored:
            _log.warning("config.reload_ignored", sections=ignored,
                         note="only [risk] is reloaded; restart to apply the rest")
        self.breakers.evaluate()

    # --- reporting --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        inv = self._inventory
        equity = inv.equity()
        latch = self._latch
        return {
            "state": self._gate.state.value,
            "halt": {"latched": latch.halted, "reason": latch.halt_reason,
                     "detail": latch.halt_detail, "since_ns": latch.halted_ns},
            "phase": "stopping" if self.stopping else "running",
            "flattening": self.flattening or self._flatten_reason is not None,
            "equity": equity, "cash": inv.cash, "realized_pnl": inv.realized_pnl,
            "unrealized_pnl": inv.unrealized_pnl(), "fees": inv.fees, "funding": inv.funding,
            "daily_pnl": self.breakers.daily_pnl(), "equity_peak": self.breakers.equity_peak,
            "drawdown_ratio": self.breakers.drawdown_ratio(equity),
            "positions": [msgspec.structs.asdict(p) for p in inv.positions()],
            "working_orders": [
                {"client_order_id": o.client_order_id, "symbol": o.symbol,
                 "side": o.side.value, "qty": o.qty, "filled_qty": o.filled_qty,
                 "type": o.order_type.value, "limit_price": o.limit_price,
                 "state": o.state.value, "tag": o.tag}
                for o in inv.working_orders()],
            # Working orders whose create had no clear outcome: looked up, never resent.
            "unresolved_orders": [msgspec.structs.asdict(u)
                                  for u in self._unresolved()],
            "limits": msgspec.structs.asdict(self._gate.config),
        }

    @property
    def latched(self) -> bool:
        return self._latch.halted

    @property
    def latch(self) -> RiskState:
        """The halt latch as it stands: why and when (clock time) trading halted, if it did."""
        return self._latch

    def _save(self, durable: bool = True) -> None:
        state = self.breakers.carry(self._latch, self._clock.now_ns())
        unchanged = msgspec.structs.replace(state, updated_ns=0) == self._saved
        if unchanged and not durable:
            return  # routine save with nothing new: no disk write at all
        saved = True
        for store in self._stores:
            try:
                store.save(state, durable)
            except StateError as err:
                # The halt holds in memory whatever the disk says; the operator must know.
                _log.error("risk_state.save_failed", error=str(err), latched=self._latch.halted,
                           store=str(store.path))
                saved = False
        if saved:
            self._saved = msgspec.structs.replace(state, updated_ns=0)

    def _publish_state(self) -> None:
        self._metrics.set_state(self._gate.state.value)
        self._health.halted = self._gate.state is TradingState.HALTED

    def _publish_limits(self) -> None:
        for name, value in _limits(self._gate.config).items():
            self._metrics.risk_limit.labels(name).set(value)


def _limits(risk: RiskConfig) -> dict[str, float]:
    return {name: float(value) for name, value in msgspec.structs.asdict(risk).items()
            if name != "initial_state"}


def _risk_changes(old: RiskConfig, new: RiskConfig) -> dict[str, list[str]]:
    return {name: [str(getattr(old, name)), str(getattr(new, name))]
            for name in old.__struct_fields__
            if name != "initial_state" and getattr(old, name) != getattr(new, name)}
