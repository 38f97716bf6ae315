"""A restart's view of parent orders: the real SQLite journal, the real engine. What a parent
filled before the restart comes from its children's journaled fills; a parent whose time ran
out while the daemon was down ends rather than sending its rest at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from daemon import config
from daemon.clock import ReplayClock
from daemon.events import OrderFilled
from daemon.journal.parents import ParentRecord, SqliteParents, child_tag
from daemon.journal.store import Journal
from daemon.model import Algo, Fill, Order, OrderType, ParentOrder, Side
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.component.test_algos_twap import CONFIG, _schedule
from tests.support.in_process import paper_daemon

S = 10**9
SYM = "BTC/USDT"


def test_restore_counts_journaled_child_fills_and_ends_a_parent_past_its_end(
        tmp_path: Path) -> None:
    """1. the journal holds two active TWAPs: A (buy 5 over 100 s, started 30 s ago) with one
    child that filled 1.5, and B (started 200 s ago, 100 s long); 2. restore at t = 1000 s:
    A resumes with 1.5 filled and 3.5 to go, its next slice the one due now (slices missed
    are caught up by one child); B ends incomplete ("restart after its end") in the journal."""
    cfg = config.parse(CONFIG.format(params='qty = "1"', max_position="1000",
                                     max_loss="1000", fill_model="touch"), str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))

    async def scenario() -> None:
        journal = await Journal.open(tmp_path / "journal.sqlite3")
        try:
            parents = SqliteParents(journal)
            a = ParentOrder(SYM, Side.BUY, Decimal(5), Algo.TWAP, 100.0, 10, seed=1)
            b = ParentOrder(SYM, Side.SELL, Decimal(2), Algo.TWAP, 100.0, 4, seed=1)
            await parents.save(ParentRecord("pa", a, "operator", 970 * S, Decimal(100)))
            await parents.save(ParentRecord("pb", b, "strategy", 800 * S, Decimal(100)))
            child = Order("td-x-1", SYM, Side.BUY, Decimal("1.5"), OrderType.MARKET, None,
                          False, 971 * S, tag=child_tag("pa"))
            await journal.record_intents([child])
            await journal.record(OrderFilled(Fill("td-x-1", "t1", SYM, Side.BUY,
                                                  Decimal("1.5"), Decimal(100), Decimal(0),
                                                  972 * S)))
            assert await parents.filled("pa") == (Decimal("1.5"), Decimal("150.0"))
            daemon = paper_daemon(cfg, strategy, clock=ReplayClock(1000 * S), journal=journal)
            await daemon.algos.restore()
            status = {p["id"]: p for p in daemon.algos.status()}
            assert status["pa"]["state"] == "active" and status["pa"]["filled"] == "1.5"
            times = _schedule(970 * S, 100.0, 10, 1)  # the README's rule, independently
            assert status["pa"]["slices_sent"] == sum(t <= 1000 * S for t in times) - 1
            assert status["pb"]["state"] == "incomplete"
            assert [r.parent_id for r in await parents.active()] == ["pa"]
        finally:
            await journal.close()

    asyncio.run(scenario())

