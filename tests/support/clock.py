"""A clock the test moves by hand (the exchange and the clock are the only things faked)."""

from __future__ import annotations

import asyncio


class ManualClock:
    def __init__(self, now_ns: int) -> None:
        self.now = now_ns
        self.mono = 0

    def now_ns(self) -> int:
        return self.now

    def monotonic_ns(self) -> int:
        return self.mono

    def advance(self, ns: int) -> None:
        self.now += ns
        self.mono += ns

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
