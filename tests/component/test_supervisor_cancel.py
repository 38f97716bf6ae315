"""The risk supervisor's task inside a real trading TaskGroup: a cancel is never swallowed.

Real components (the daemon as `wiring.build` wires it, paper broker, in-memory journal); only the
clock is faked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon import config
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.clock import ManualClock
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.in_process import paper_daemon

CONFIG = IN_PROCESS_HEAD + """[strategy]
class = "tests.support.strategies:BuyOnce"
[strategy.params]
symbol = "BTC/USDT"
qty = "0.01"
[risk]
max_order_notional = "100000"
max_position_notional = "100000"
"""


@pytest.mark.asyncio
async def test_a_halt_landing_with_the_groups_cancel_cannot_keep_the_group_alive(
        tmp_path: Path) -> None:
    """Steps: the supervisor waits in the trading TaskGroup; in one step a sibling halts (the
    supervisor's wake fires) and fails (the group cancels the supervisor). The supervisor must
    take the cancel, so the group ends at once with the sibling's error. (With wait_for on
    3.11 the cancel was swallowed and the group hung until something else cancelled it.)"""
    cfg = config.parse(CONFIG, str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    d = paper_daemon(cfg, strategy, clock=ManualClock(1_772_452_800_000_000_000))

    async def halt_and_fail() -> None:
        # Its first step runs right after the supervisor's, which parked it on its wake event.
        d.supervisor.on_kill_switch("SIGUSR1")
        raise RuntimeError("a sibling task failed")

    supervisor: list[asyncio.Task[None]] = []

    async def trading_group() -> None:
        async with asyncio.TaskGroup() as tg:
            supervisor.append(tg.create_task(d.supervisor.run()))
            tg.create_task(halt_and_fail())

    group = asyncio.create_task(trading_group())
    done, _ = await asyncio.wait({group}, timeout=3)
    if not done:  # stuck: free it for the next test, then fail
        supervisor[0].cancel()
        await asyncio.wait({group})
    err = group.exception()
    assert done, "the trading group did not end: the supervisor swallowed its cancel"
    assert isinstance(err, ExceptionGroup)
    assert [type(e) for e in err.exceptions] == [RuntimeError]
