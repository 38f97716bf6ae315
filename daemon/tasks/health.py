"""Health task: heartbeat, gauges, event-loop lag, stale data, and what systemd is told.

It also gauges the file descriptors in use against the process's limit (`tradingd_open_fds`,
`tradingd_max_fds`): a daemon that runs out cannot save its halt latch or reach its venue.

systemd hears READY=1 once startup is complete, a STATUS= line with every heartbeat, and
WATCHDOG=1 only while this loop runs on time *and* market data is fresh: a wedged loop or a
dead feed stops the pings, and systemd restarts the service. The loop ticks at least twice per
ping interval, so a ping is never more than 3/4 of systemd's `WatchdogSec=` after the last one.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable

from daemon.book.inventory import InventoryManager
from daemon.clock import Clock
from daemon.ops import log, sdnotify
from daemon.ops.health import HealthState
from daemon.ops.metrics import Metrics
from daemon.risk.gate import RiskGate

_log = log.get("health")
TICK_S = 0.5


async def run(inventory: InventoryManager, gate: RiskGate, metrics: Metrics, clock: Clock,
              health: HealthState, heartbeat_s: float, stale_data_s: float,
              data_path: Callable[[], str] = lambda: "unknown") -> None:
    """`data_path` says where market data comes from now (websocket, rest, sim, replay)."""
    log.bind_task("health")
    next_heartbeat = clock.monotonic_ns()
    stale: set[str] = set()
    notifier = Notifier(inventory, gate, data_path)
    tick_s = notifier.tick_s()
    while True:
        before = clock.monotonic_ns()
        await clock.sleep(tick_s)
        now_mono = clock.monotonic_ns()
        # Lag is how much later than asked the loop woke us: a blocked loop shows up here.
        lag_s = max(0.0, (now_mono - before) / 1e9 - tick_s)
        metrics.loop_lag.set(lag_s)
        health.loop_alive_ns = now_mono
        update_fd_gauges(metrics)
        update_gauges(inventory, gate, metrics)
        check_staleness(inventory, metrics, clock.now_ns(), stale_data_s, stale, health)
        metrics.ready.set(1 if all(health.readiness().values()) else 0)
        notifier.tick(health, lag_s, now_mono)
        if now_mono >= next_heartbeat:
            next_heartbeat = now_mono + int(heartbeat_s * 1e9)
            sdnotify.status(notifier.status_line())
            _log.info("heartbeat", market_data_path=data_path(),
                      equity=inventory.equity(), cash=inventory.cash,
                      positions={p.symbol: p.qty for p in inventory.positions()},
                      working_orders=len(inventory.working_orders()), fills=inventory.fill_count,
                      state=gate.state.value, loop_lag_s=round(lag_s, 6))


class Notifier:
    """What systemd is told, and when (sd_notify is a no-op without $NOTIFY_SOCKET)."""

    def __init__(self, inventory: InventoryManager, gate: RiskGate,
                 data_path: Callable[[], str] = lambda: "unknown") -> None:
        self._inventory = inventory
        self._gate = gate
        self._data_path = data_path
        self._ready_sent = False
        interval = sdnotify.watchdog_interval_s()
        self._watchdog_ns = int(interval * 1e9) if interval else None
        self._next_ping = 0

    def tick_s(self) -> float:
        """How often the health loop must run: TICK_S, or twice per ping interval if that is
        shorter (a small `WatchdogSec=`), so a ping is at most half an interval late."""
        return TICK_S if self._watchdog_ns is None else min(TICK_S, self._watchdog_ns / 2e9)

    def tick(self, health: HealthState, lag_s: float, now_ns: int) -> None:
        if not self._ready_sent and health.started():
            self._ready_sent = True
            sdnotify.ready(self.status_line())
            _log.info("systemd.ready")
        if self._watchdog_ns is None or now_ns < self._next_ping:
            return
        # Responsive: woke within a fraction of the watchdog period. Fresh: every
        # instrument has recent data. Otherwise stay silent and let systemd act.
        if lag_s < self._watchdog_ns / 4e9 and health.connected and not health.stale_symbols:
            sdnotify.watchdog()
            self._next_ping = now_ns + self._watchdog_ns

    def status_line(self) -> str:
        positions = " ".join(f"{p.symbol}={p.qty}" for p in self._inventory.positions())
        return (f"{self._gate.state.value}; equity {self._inventory.equity():.2f}; "
                f"{positions}; {len(self._inventory.working_orders())} working; "
                f"data {self._data_path()}")


def update_gauges(inventory: InventoryManager, gate: RiskGate, metrics: Metrics) -> None:
    metrics.equity.set(float(inventory.equity()))
    metrics.cash.set(float(inventory.cash))
    metrics.realized_pnl.set(float(inventory.realized_pnl))
    metrics.unrealized_pnl.set(float(inventory.unrealized_pnl()))
    metrics.set_state(gate.state.value)
    for p in inventory.positions():
        metrics.position.labels(p.symbol).set(float(p.qty))
        metrics.position_notional.labels(p.symbol).set(float(p.qty * p.mark))
        metrics.working_orders.labels(p.symbol).set(len(inventory.working_orders(p.symbol)))
        liq = inventory.liquidation_price(p.symbol)
        if liq is not None:
            distance = abs(p.mark - liq) / p.mark if p.qty and liq and p.mark else 1
            metrics.liquidation_distance.labels(p.symbol).set(float(distance))


def update_fd_gauges(metrics: Metrics) -> None:
    """Descriptors open now (Linux: /proc/self/fd) and the soft limit (+Inf: unlimited)."""
    try:
        metrics.open_fds.set(len(os.listdir("/proc/self/fd")) - 1)  # less the listing's own
    except OSError:
        pass  # no procfs: the gauge keeps its last value
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    metrics.max_fds.set(float("inf") if soft == resource.RLIM_INFINITY else soft)


def check_staleness(inventory: InventoryManager, metrics: Metrics, now_ns: int,
                    stale_data_s: float, stale: set[str], health: HealthState) -> None:
    """Log once when an instrument's data goes stale and once when it recovers."""
    for symbol in inventory.instruments:
        ts = inventory.mark_ts_ns(symbol)
        age_s = (now_ns - ts) / 1e9 if ts is not None else float("inf")
        metrics.data_age.labels(symbol).set(min(age_s, 1e9))
        if age_s > stale_data_s and symbol not in stale:
            stale.add(symbol)
            _log.warning("market_data.stale", symbol=symbol, age_s=round(min(age_s, 1e9), 3))
        elif age_s <= stale_data_s and symbol in stale:
            stale.discard(symbol)
            _log.info("market_data.fresh", symbol=symbol)
    health.stale_symbols = frozenset(stale)
    health.connected = all(inventory.mark_ts_ns(s) is not None for s in inventory.instruments)
