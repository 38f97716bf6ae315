"""Algos task: works the parent orders (`execution.algos`) on the daemon's clock.

It sleeps until the next slice is due, at most `POLL_S` (a parent the control API started is
picked up within it), at least `MIN_WAIT_S` (a slice waiting for its predecessor's cancel is
looked at again soon, without spinning). On a replay clock the sleep is market time: the
children go out at the batch boundary where their time has come, and a replay is reproducible.
"""

from __future__ import annotations

from daemon.clock import Clock
from daemon.execution.algos.engine import AlgoEngine
from daemon.ops import log

POLL_S = 1.0
MIN_WAIT_S = 0.05


async def run(engine: AlgoEngine, clock: Clock) -> None:
    log.bind_task("algos")
    while True:
        await engine.step()
        due = engine.next_due_ns()
        wait_s = POLL_S if due is None else (due - clock.now_ns()) / 1e9
        await clock.sleep(min(POLL_S, max(MIN_WAIT_S, wait_s)))
