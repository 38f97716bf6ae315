"""Restarts through the real components: the daemon as `wiring.build` wires it (books, gate, risk
supervisor and breakers, reconciler, SQLite journal and risk_state.json in one state dir), the
books restored from the journal as `Daemon.run` does before trading, fills booked through the
fills task's own path. Only the venue (fills arrive at chosen prices) and the clock are faked.

What a restart must not change: the day's PnL and the drawdown the breakers measure, whatever
the journal's history, open positions or a lost risk_state.json.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon import config
from daemon.app import Daemon
from daemon.events import OrderFilled
from daemon.execution.booking import book
from daemon.journal.store import Journal, journal_path
from daemon.model import Fill, Side, TradingState
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.clock import ManualClock
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.in_process import paper_daemon
from tests.support.wait import eventually_async

SEC = 1_000_000_000
HOUR = 3600 * SEC
T0 = int(datetime.datetime(2026, 3, 2, 12, tzinfo=datetime.UTC).timestamp()) * SEC  # noon UTC
SYMBOL = "BTC/USDT"
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "10000"
[strategy]
class = "tests.support.strategies:BuyOnce"
[strategy.params]
symbol = "BTC/USDT"
qty = "0.01"
[risk]
max_order_notional = "100000"
max_position_notional = "100000"
max_daily_loss = "{daily}"
max_drawdown_pct = "{drawdown}"
"""
_trade_ids = itertools.count(1)


def build(tmp: Path, clock: ManualClock, journal: Journal | None, daily: str = "1000",
          drawdown: str = "20") -> Daemon:
    cfg = config.parse(CONFIG.format(daily=daily, drawdown=drawdown), str(tmp))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp))
    return paper_daemon(cfg, strategy, clock=clock, journal=journal)


async def start(tmp: Path, clock: ManualClock, **limits: str) -> Daemon:
    """One run, up to where trading would begin: the journal opened, the books restored."""
    journal = await Journal.open(journal_path(tmp / "state"))
    daemon = build(tmp, clock, journal, **limits)
    assert daemon.reconciler is not None
    await daemon.reconciler.restore()
    return daemon


async def stop(daemon: Daemon) -> None:
    """The end of a run, as `Daemon` ends one (or as a crash right after a periodic save):
    what the breakers carry is saved, the journal closed. Nothing is flattened here."""
    daemon.supervisor.close()
    if daemon.journal is not None:
        await daemon.journal.close()


async def fill(daemon: Daemon, clock: ManualClock, side: Side, qty: str, price: str,
               fee: str = "0") -> None:
    n = next(_trade_ids)
    event = OrderFilled(Fill(f"td-x-{n}", str(n), SYMBOL, side, D(qty), D(price), D(fee),
                             clock.now))
    await book(event, daemon.inventory, daemon.metrics, daemon.journal)


def measured(daemon: Daemon) -> tuple[D, D]:
    """(today's PnL, distance below the peak) as the breakers see them."""
    breakers = daemon.supervisor.breakers
    return breakers.daily_pnl(), breakers.equity_peak - daemon.inventory.equity()


def halted(daemon: Daemon) -> bool:
    return daemon.gate.state is TradingState.HALTED


@pytest.mark.asyncio
async def test_a_restart_keeps_the_days_loss_instead_of_counting_it_again(
        tmp_path: Path) -> None:
    """Steps: lose 600 of a 1000 daily budget (flat again); restart: the breakers still
    measure -600 today and 600 below the peak, and nothing halts."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock)
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "59400")
    assert measured(d) == (D(-600), D(600))
    await stop(d)

    d = await start(tmp_path, clock)
    assert measured(d) == (D(-600), D(600))
    assert not halted(d) and not d.supervisor.latched
    await stop(d)


@pytest.mark.asyncio
async def test_a_carried_loss_trips_on_restart_only_beyond_the_limit(tmp_path: Path) -> None:
    """Steps: lose 600 (limit 1000); restart with the limit lowered to 601: just inside, no
    trip; restart with 599: just beyond, the daily-loss breaker halts before any trading."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock)
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "59400")
    await stop(d)

    d = await start(tmp_path, clock, daily="601")
    assert measured(d)[0] == D(-600) and not halted(d)
    await stop(d)

    d = await start(tmp_path, clock, daily="599")
    assert halted(d) and d.supervisor.status()["halt"]["reason"] == "daily_loss"
    assert measured(d)[0] == D(-600)
    await stop(d)


@pytest.mark.asyncio
async def test_todays_profit_is_not_doubled_into_extra_loss_budget(tmp_path: Path) -> None:
    """Steps: gain 2000; restart: +2000 today, peak 12000; lose 3100 more: -1100 today,
    beyond the 1000 limit, trips (with the gain counted twice it would read +900)."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock, drawdown="99")
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "62000")
    await stop(d)

    d = await start(tmp_path, clock, drawdown="99")
    assert measured(d) == (D(2000), D(0))
    assert d.supervisor.breakers.equity_peak == D(12000)
    await fill(d, clock, Side.BUY, "1", "62000")
    await fill(d, clock, Side.SELL, "1", "58900")
    assert measured(d)[0] == D(-1100)
    assert halted(d) and d.supervisor.status()["halt"]["reason"] == "daily_loss"
    await stop(d)


@pytest.mark.asyncio
async def test_yesterdays_profit_is_not_todays_budget(tmp_path: Path) -> None:
    """Steps: gain 2000; restart the next UTC day: 0 today (the peak stays at 12000); a loss
    of 1100 then trips the daily-loss breaker."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock, drawdown="99")
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "62000")
    await stop(d)

    clock.advance(24 * HOUR)
    d = await start(tmp_path, clock, drawdown="99")
    assert measured(d) == (D(0), D(0)) and d.supervisor.breakers.equity_peak == D(12000)
    await fill(d, clock, Side.BUY, "1", "62000")
    await fill(d, clock, Side.SELL, "1", "60900")
    assert halted(d) and d.supervisor.status()["halt"]["reason"] == "daily_loss"
    await stop(d)


@pytest.mark.asyncio
async def test_an_open_position_is_judged_at_its_price_not_at_cost(tmp_path: Path) -> None:
    """Steps: lose 900 realized, then hold 1 BTC bought at 59100 and marked at 59400 (+300):
    -600 today. Crash (what the breakers carried is saved; the position stays). Restart with
    the limit at 800: the books are rebuilt before any price arrives, the position valued at
    cost (-900 if taken at face value): no trip. The first mark at 59400 reads -600 again; a
    fall to 58800 while the daemon was down counts: -1200 trips."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock, drawdown="99")
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "59100")
    await fill(d, clock, Side.BUY, "1", "59100")
    d.inventory.mark(SYMBOL, 59400.0, clock.now)
    assert measured(d) == (D(-600), D(600)) and not halted(d)
    await stop(d)

    d = await start(tmp_path, clock, daily="800", drawdown="99")
    assert d.inventory.position(SYMBOL) == 1 and not halted(d)
    d.inventory.mark(SYMBOL, 59400.0, clock.now)
    assert measured(d) == (D(-600), D(600)) and not halted(d)
    d.inventory.mark(SYMBOL, 58800.0, clock.now)
    assert measured(d)[0] == D(-1200)
    assert halted(d) and d.supervisor.status()["halt"]["reason"] == "daily_loss"
    await stop(d)


@pytest.mark.asyncio
async def test_a_lost_risk_state_file_does_not_unlatch_a_halt(tmp_path: Path) -> None:
    """Steps: lose 600, then the kill switch halts; stop; risk_state.json is deleted; the
    restart is still halted (the journal's copy) with the same reason, the loss still
    counted, and the file is written again."""
    clock = ManualClock(T0)
    d = await start(tmp_path, clock)
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "59400")
    d.supervisor.on_kill_switch("SIGUSR1")
    await stop(d)
    state_file = tmp_path / "state" / "risk_state.json"
    state_file.unlink()

    d = await start(tmp_path, clock)
    assert halted(d) and d.supervisor.latched
    assert d.supervisor.status()["halt"]["reason"] == "kill_switch"
    assert measured(d) == (D(-600), D(600))
    assert '"halted": true' in state_file.read_text()
    await stop(d)


@pytest.mark.asyncio
async def test_without_a_journal_the_file_alone_carries_the_latch_and_the_loss(
        tmp_path: Path) -> None:
    """A replay or an in-process daemon has an in-memory journal, which keeps no risk state:
    risk_state.json alone keeps the halt and the day's loss; a loss carried beyond a lowered
    limit trips when the supervisor starts, before it waits for anything."""
    clock = ManualClock(T0)
    d = build(tmp_path, clock, None)
    await fill(d, clock, Side.BUY, "1", "60000")
    await fill(d, clock, Side.SELL, "1", "59400")
    await stop(d)

    d = build(tmp_path, clock, None, daily="599")
    assert measured(d)[0] == D(-600)
    task = asyncio.create_task(d.supervisor.run())
    try:
        await eventually_async(lambda: halted(d), 5, what="the carried loss to trip")
    finally:
        task.cancel()
    await stop(d)

    d = build(tmp_path, clock, None)
    assert halted(d) and d.supervisor.status()["halt"]["reason"] == "daily_loss"
    await stop(d)
