"""Order routing task: every intent through the risk gate to the broker, in arrival order.

The intents one decision queued are routed together (`OrderRouter.route_all`): each is checked
against the ones before it, and none waits for an earlier one's request before its own check.
"""

from __future__ import annotations

import asyncio

from daemon import log
from daemon.execution import OrderRouter
from daemon.model import OrderIntent


async def run(router: OrderRouter, inbox: asyncio.Queue[OrderIntent]) -> None:
    log.bind_task("routing")
    while True:
        intents = [await inbox.get()]
        while not inbox.empty():
            intents.append(inbox.get_nowait())
        try:
            await router.route_all(intents)
        finally:
            for _ in intents:
                inbox.task_done()  # the signal task waits for this before it reads on
