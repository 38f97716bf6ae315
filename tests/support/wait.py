"""Wait on a condition with a deadline instead of sleeping a guessed amount.

The poll interval only lets the other side make progress; it is not a guess at how long
anything takes. Every test in the repo (the fake exchange's too) waits through these.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def eventually(condition: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.02,
               what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


async def eventually_async(condition: Callable[[], Any | Awaitable[Any]], timeout_s: float = 5.0,
                           interval_s: float = 0.005, what: str = "condition") -> Any:
    """The same inside an event loop; `condition` may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)
