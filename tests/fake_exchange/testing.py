"""Test helpers: wait for a condition without sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(cond: Callable[[], object | Awaitable[object]], timeout_s: float = 5.0,
                     interval_s: float = 0.005, what: str = "") -> object:
    """Poll `cond` (sync or async) until it returns something truthy; return that value.

    Raises AssertionError after `timeout_s`. The short interval only yields to the loop so the
    server and clients can make progress; it is not a guess at how long anything takes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {what or cond}")
        await asyncio.sleep(interval_s)


def eventually_sync(cond: Callable[[], object], timeout_s: float = 5.0,
                    interval_s: float = 0.01, what: str = "") -> object:
    """The same for synchronous tests (e.g. polling a fake running in another thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {what or cond}")
        time.sleep(interval_s)
