"""Order routing task: every intent through the risk gate to the broker, in arrival order.

A decision's intents are routed together (`OrderRouter.route_all`): each is checked against the
ones before it, and none waits for an earlier one's request before its own check. A decision
with cancels or replaces is sequenced by `StrategyActions`.
"""

from __future__ import annotations

from daemon.execution.actions import StrategyActions
from daemon.execution.router import OrderRouter
from daemon.handoff import Handoff
from daemon.model import Decision
from daemon.ops import log


async def run(router: OrderRouter, inbox: Handoff[Decision], actions: StrategyActions) -> None:
    log.bind_task("routing")
    while True:
        decision = await inbox.take()
        try:
            if decision.actions is None:
                await router.route_all(decision.intents, closed_mono_ns=decision.closed_mono_ns,
                                       owned=True)
            else:
                await actions.run(decision.actions, decision.closed_mono_ns)
        finally:
            inbox.done()  # the signal task waits for this before it reads on
