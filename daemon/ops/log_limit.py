"""Log lines that someone else can multiply, rate-limited: the first few a window, then a count.

A flood of unauthorized control requests, or a venue that answers every poll with garbage, must
not flood the log: journald drops lines beyond its rate limit, and the lines that matter go with
them. `LimitedLog.hit(**fields)` logs the first `burst` events of each `window_s` as they come
and counts the rest; the count is logged when the window ends (`<event>_suppressed` with
`count`), from a timer on the running loop, so the last window of a flood is reported too.
Metrics count every event; only the log is limited.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class LimitedLog:
    def __init__(self, logger: Any, event: str, burst: int = 1, window_s: float = 10.0,
                 level: str = "warning") -> None:
        self._log = getattr(logger, level)
        self._event = event
        self._burst = burst
        self._window_s = window_s
        self._window_end = 0.0
        self._logged = 0
        self._suppressed = 0
        self._timer: asyncio.TimerHandle | None = None

    def hit(self, **fields: Any) -> None:
        now = time.monotonic()
        if now >= self._window_end:
            self._flush()
            self._window_end = now + self._window_s
            self._logged = 0
        if self._logged < self._burst:
            self._logged += 1
            self._log(self._event, **fields)
            return
        self._suppressed += 1
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop to wake us: the next window's first event reports the count
            self._timer = loop.call_later(max(0.0, self._window_end - now), self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._suppressed:
            self._log(self._event + "_suppressed", count=self._suppressed,
                      window_s=self._window_s,
                      note=f"only {self._burst} line(s) per {self._window_s:g}s are logged")
            self._suppressed = 0
