"""Time: the live clock, and the protocol a simulated clock implements for replays and tests.

Wall time (`now_ns`) stamps events; monotonic time measures intervals and deadlines, so an NTP
step cannot stretch or cut a shutdown deadline. A replay runs on `ReplayClock`, whose wall
time is the recorded data's.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def monotonic_ns(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class LiveClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SteppedClock(Protocol):
    """A clock whose time is the data's: the signal task tells it how far the daemon has read.
    (Not runtime-checkable: this module is compiled, see `daemon.accel`; `stepper` asks.)"""

    def advance(self, ts_ns: int, wake: bool = True) -> None: ...


def stepper(clock: Clock) -> SteppedClock | None:
    """The clock as a `SteppedClock` if it is one (it has `advance`), else None."""
    return clock if callable(getattr(clock, "advance", None)) else None  # type: ignore[return-value]


class ReplayClock:
    """Time for a replay: `now_ns` is the replayed data's time, as far as the daemon has processed
    it, and nothing ever really sleeps.

    The signal task calls `advance` with the time of each batch it finished; sleepers (the
    health task, the replay source pacing itself) then wake if time passed their deadline, in
    deadline order. So timers fire at batch boundaries, where the whole daemon (books, marks,
    strategy) stands at the clock's time; a day of data in one batch wakes the health task once,
    not 170,000 times. Inside a batch the signal task moves time to the tick it acts on without
    waking anyone (`wake=False`): its orders go out, are checked and fill at that tick's time.
    `sleep` counts data time. `monotonic_ns` stays real: it measures the daemon's own work
    (latency, the flatten deadline), not the market's.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + int(seconds * 1e9))

    async def sleep_until(self, ts_ns: int) -> None:
        if ts_ns <= self._now:
            await asyncio.sleep(0)  # still a yield: a loop that sleeps must let others run
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (ts_ns, next(self._seq), fut))
        await fut  # a cancelled sleeper stays in the heap until time passes it; then skipped

    def advance(self, ts_ns: int, wake: bool = True) -> None:
        """Time is now `ts_ns` (it never goes back); with `wake`, wake everyone whose deadline
        is at or before now."""
        if ts_ns > self._now:
            self._now = ts_ns
        if not wake:
            return
        ts_ns = self._now
        sleepers = self._sleepers
        while sleepers and sleepers[0][0] <= ts_ns:
            fut = heapq.heappop(sleepers)[2]
            if not fut.done():
                fut.set_result(None)
