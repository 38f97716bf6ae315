"""What the daemon tells about its own health: the state behind `/healthz`, `/readyz` and
systemd's READY/WATCHDOG, written by the daemon's parts and read by the monitor and the health
task."""

from __future__ import annotations

import time


class HealthState:
    """What the health endpoints and systemd are told; written by the daemon, read by the
    HTTP handlers and the health task."""

    def __init__(self) -> None:
        self.loop_alive_ns = time.monotonic_ns()
        self.stale_symbols: frozenset[str] = frozenset()
        self.trading = False  # the trading tasks are running (not starting or shutting down)
        self.connected = False  # market data has arrived for every instrument
        self.halted = False
        # The journal and the venue agree (startup reconciliation passed); never true before.
        # A daemon on an in-memory journal (a replay) has nothing to reconcile: set at start.
        self.reconciled = False

    def started(self) -> bool:
        """Startup is complete (systemd READY=1): trading tasks run on reconciled books."""
        return self.trading and self.reconciled

    def readiness(self) -> dict[str, bool]:
        """Ready to trade, condition by condition (`/readyz`)."""
        return {
            "trading": self.trading,
            "connected": self.connected,
            "reconciled": self.reconciled,
            "market_data_fresh": self.connected and not self.stale_symbols,
            "not_halted": not self.halted,
        }
