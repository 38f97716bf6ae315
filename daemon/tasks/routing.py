"""Order routing task: every intent through the risk gate to the broker, in arrival order."""

from __future__ import annotations

import asyncio

from daemon import log
from daemon.execution import OrderRouter
from daemon.model import OrderIntent


async def run(router: OrderRouter, inbox: asyncio.Queue[OrderIntent]) -> None:
    log.bind_task("routing")
    while True:
        intent = await inbox.get()
        try:
            await router.route(intent)
        finally:
            inbox.task_done()  # the signal task waits for this before it reads on
