"""Time: the live clock, and the protocol a simulated clock implements for replays and tests.

Wall time (`now_ns`) stamps events; monotonic time measures intervals and deadlines, so an NTP
step cannot stretch or cut a shutdown deadline.
"""

from __future__ import annotations

import asyncio
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
