"""The health task's side of systemd's watchdog, on real books, a real notify socket and a clock
the test moves: when pings go out, how far apart, and that stale data stops them."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.ops.health import HealthState
from daemon.ops.metrics import Metrics
from daemon.risk.gate import RiskGate
from daemon.tasks import health
from tests.support.instruments import instrument
from tests.support.wait import eventually_async

BTC = instrument(min_notional="1")
SEC = 1_000_000_000
T0 = 1_800_000_000 * SEC


class SteppingClock:
    """Time moves only when the task under test sleeps, by exactly what it asked for; before
    each move the notify socket is drained, so every datagram is stamped with the clock time
    it was sent at."""

    def __init__(self, sock: socket.socket) -> None:
        self.now = T0
        self.mono = 0
        self.sleeps: list[float] = []
        self.received: list[tuple[int, str]] = []  # (monotonic ns, message)
        self._sock = sock

    def now_ns(self) -> int:
        return self.now

    def monotonic_ns(self) -> int:
        return self.mono

    def drain(self) -> None:
        while True:
            try:
                self.received.append((self.mono, self._sock.recv(4096).decode()))
            except BlockingIOError:
                return

    async def sleep(self, seconds: float) -> None:
        self.drain()
        self.sleeps.append(seconds)
        self.now += int(seconds * SEC)
        self.mono += int(seconds * SEC)
        await asyncio.sleep(0)

    def pings(self) -> list[int]:
        return [t for t, m in self.received if m == "WATCHDOG=1"]


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd, named by the environment as systemd does."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield sock
    finally:
        sock.close()


async def run_health(clock: SteppingClock, inv: InventoryManager, until_s: float,
                     stale_data_s: float) -> None:
    """Run the real health task on started books until the clock reaches `until_s`."""
    state = HealthState()
    state.trading = state.reconciled = True
    gate = RiskGate(RiskConfig(D(10_000), D(10_000)), inv.view, clock.now_ns())
    task = asyncio.create_task(health.run(inv, gate, Metrics(["BTC/USDT"]), clock, state,
                                          heartbeat_s=1.0, stale_data_s=stale_data_s))
    try:
        await eventually_async(lambda: clock.mono >= until_s * SEC or task.done(), 10,
                               what="the clock to advance")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    clock.drain()


@pytest.mark.asyncio
@pytest.mark.parametrize("watchdog_usec", [400_000, 2_000_000, 30_000_000])
async def test_pings_are_never_further_apart_than_three_quarters_of_the_period(
        notify: socket.socket, monkeypatch: pytest.MonkeyPatch, watchdog_usec: int) -> None:
    """Steps: WATCHDOG_USEC as systemd sets it (a small one too); fresh data throughout; the
    first ping follows READY=1 within one tick, and no gap between pings reaches 3/4 of the
    period (systemd kills at the full period)."""
    monkeypatch.setenv("WATCHDOG_USEC", str(watchdog_usec))
    period_ns = watchdog_usec * 1000
    clock = SteppingClock(notify)
    inv = InventoryManager([BTC], D(1000))
    inv.mark("BTC/USDT", 100.0, T0)
    await run_health(clock, inv, until_s=10 * period_ns / SEC, stale_data_s=1e9)
    assert clock.received[0][1].startswith("READY=1")
    pings = clock.pings()
    assert len(pings) >= 10, clock.received[:5]
    assert pings[0] - clock.received[0][0] <= period_ns / 4
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) <= period_ns * 3 / 4, (max(gaps), period_ns)


@pytest.mark.asyncio
async def test_pings_stop_once_data_is_stale_and_status_lines_continue(
        notify: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps: a 2 s watchdog; one mark at the start and none after, data stale after 3 s; the
    pings go out while the mark is fresh and none after it has gone stale, while the
    heartbeat's STATUS= lines keep coming."""
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    clock = SteppingClock(notify)
    inv = InventoryManager([BTC], D(1000))
    inv.mark("BTC/USDT", 100.0, T0)
    await run_health(clock, inv, until_s=12, stale_data_s=3)
    pings = clock.pings()
    assert pings and max(pings) <= 3 * SEC
    assert sum(t > 4 * SEC and m.startswith("STATUS=") for t, m in clock.received) >= 5
