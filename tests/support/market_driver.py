"""Moves the fake exchange's market from a thread, and can stop it: real stale data for tests.

`FakeBinanceThread(tick_interval=...)` moves the market for good; a test that needs the data
to stop (and come back) starts the fake without a ticker and drives it with this instead.
"""

from __future__ import annotations

import threading
from types import TracebackType

from tests.fake_exchange import FakeBinanceThread


class MarketDriver:
    """Steps every synthetic symbol's random walk every `interval_s` (each step prints a
    public trade) while running. `pause()` returns once no step is in progress: from then on
    the exchange publishes no market data until `resume()`."""

    def __init__(self, fx: FakeBinanceThread, interval_s: float = 0.05) -> None:
        self._fx = fx
        self._interval_s = interval_s
        self._running = threading.Event()
        self._closed = threading.Event()
        self._step_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="market-driver", daemon=True)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._running.wait()
            with self._step_lock:
                if self._running.is_set() and not self._closed.is_set():
                    self._fx.call(lambda f: f.step())
            # Pacing, not waiting for a condition: a market prints a trade this often.
            self._closed.wait(self._interval_s)

    def pause(self) -> None:
        with self._step_lock:
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def __enter__(self) -> MarketDriver:
        self._running.set()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._closed.set()
        self._running.set()  # wake a paused thread so it sees `closed`
        self._thread.join(10)
