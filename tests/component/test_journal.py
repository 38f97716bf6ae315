"""The journal on its own: what survives a reopen, idempotent fills, migrations, bad files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.events import OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from daemon.journal.schema import MIGRATIONS, SCHEMA_VERSION
from daemon.journal.store import Journal, JournalError, JournalRiskStore, quote_spent
from daemon.model import Fill, Order, OrderType, Side
from daemon.risk.latch import RiskState

D = Decimal


def order(coid: str, qty: str = "0.01", side: Side = Side.BUY) -> Order:
    return Order(coid, "BTC/USDT", side, D(qty), OrderType.LIMIT, D("60000.5"), False,
                 1_700_000_000_000_000_000, tag="open")


def fill(coid: str, trade_id: str, qty: str, fee_base: str = "0") -> Fill:
    return Fill(coid, trade_id, "BTC/USDT", Side.BUY, D(qty), D("60000.5"), D("0.6"),
                1_700_000_000_000_000_001, fee_base=D(fee_base))


@pytest.mark.asyncio
async def test_orders_and_fills_survive_reopen_exactly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    await j.record_intent(order("td-a-1"))
    await j.record_intent(order("td-a-2"))
    await j.record_intent(order("td-a-3"))
    await j.record(OrderAccepted("td-a-1", "101", 1))
    assert await j.record(OrderFilled(fill("td-a-1", "7", "0.004", "0.000004")))
    await j.record(OrderFilled(fill("td-a-1", "8", "0.006")))
    await j.record(OrderCancelled("td-a-2", 2))
    await j.record(OrderRejected("td-a-3", "insufficient_funds", "no", 3))
    await j.close()

    j = await Journal.open(path)
    snap = await j.load()
    assert [f.trade_id for f in snap.fills] == ["7", "8"]
    assert snap.fills[0] == fill("td-a-1", "7", "0.004", "0.000004")  # exact Decimals
    rec = await j.order("td-a-1")
    assert rec is not None and rec.state == "filled" and rec.settled
    assert rec.filled_qty == D("0.010") and rec.venue_order_id == "101"
    assert rec.limit_price == D("60000.5")
    # The cancelled order stays unsettled until reconciliation has seen its trades.
    assert [o.client_order_id for o in snap.unsettled] == ["td-a-2"]
    assert (await j.order("td-a-3")).state == "rejected"  # type: ignore[union-attr]
    await j.close()


@pytest.mark.asyncio
async def test_a_fill_is_journaled_once_and_an_end_never_undoes_filled(tmp_path: Path) -> None:
    j = await Journal.open(tmp_path / "j.sqlite3")
    await j.record_intent(order("td-a-1"))
    assert await j.record(OrderFilled(fill("td-a-1", "7", "0.01")))
    assert not await j.record(OrderFilled(fill("td-a-1", "7", "0.01")))  # websocket + REST twin
    await j.record(OrderCancelled("td-a-1", 5))  # a late, contradicting end
    rec = await j.order("td-a-1")
    assert rec is not None and rec.state == "filled" and rec.filled_qty == D("0.01")
    assert len((await j.load()).fills) == 1
    await j.close()


HALTED = RiskState(halted=True, halt_reason="reconciliation", halt_detail="drift: BTC",
                   halted_ns=5, day="2026-03-01", daily_pnl=D("-600.25"), drawdown=D("700.5"),
                   updated_ns=7, total_pnl=D("-812.125"))


@pytest.mark.asyncio
async def test_the_risk_state_survives_reopen_exactly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    assert await j.load_risk_state() is None
    await j.save_risk_state(HALTED)
    await j.close()
    j = await Journal.open(path)
    assert await j.load_risk_state() == HALTED
    await j.save_risk_state(RiskState(updated_ns=9), durable=False)  # the latest save wins
    assert await j.load_risk_state() == RiskState(updated_ns=9)
    await j.close()


@pytest.mark.asyncio
async def test_the_store_queues_saves_in_order_without_waiting(tmp_path: Path) -> None:
    """The supervisor's synchronous saves reach the journal in order, behind what was queued
    before them; closing the journal waits for them."""
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    store = JournalRiskStore(j, None)
    assert store.load() is None
    store.save(HALTED)
    store.save(RiskState(updated_ns=8), durable=False)
    await j.close()
    j = await Journal.open(path)
    assert await j.load_risk_state() == RiskState(updated_ns=8)
    await j.close()


@pytest.mark.asyncio
async def test_a_corrupt_risk_state_in_the_journal_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    await j.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO meta VALUES ('risk_state', '{\"halted\": tru')")
    j = await Journal.open(path)
    with pytest.raises(JournalError, match=f"journal {path}: corrupt risk state"):
        await j.load_risk_state()
    await j.close()


@pytest.mark.asyncio
async def test_each_run_gets_a_later_id_even_when_the_clock_steps_back(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    first = j.run_ns
    await j.close()
    with sqlite3.connect(path) as db:  # as if the previous run had been in the future
        db.execute("UPDATE meta SET value = ? WHERE key = 'last_run_ns'", (str(first * 2),))
    j = await Journal.open(path)
    assert j.run_ns // 1_000_000 > first * 2 // 1_000_000
    await j.close()


@pytest.mark.asyncio
async def test_a_version_1_journal_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with sqlite3.connect(path) as db:  # what the first release wrote
        db.execute("CREATE TABLE schema_version "
                   "(version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)")
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO schema_version VALUES (1, 0)")
        for coid, state in (("td-a-1", "filled"), ("td-a-2", "accepted")):
            db.execute("INSERT INTO orders (client_order_id, symbol, side, qty, order_type, "
                       "reduce_only, tag, created_ns, updated_ns, state, filled_qty) "
                       "VALUES (?, 'BTC/USDT', 'buy', '0.01', 'market', 0, '', 1, 1, ?, ?)",
                       (coid, state, "0.01" if state == "filled" else "0"))
    j = await Journal.open(path)
    assert [o.client_order_id for o in await j.unsettled()] == ["td-a-2"]
    await j.save_risk_state(HALTED)  # `meta` exists
    await j.close()
    with sqlite3.connect(path) as db:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.asyncio
async def test_a_journal_from_a_newer_daemon_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    await j.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(JournalError, match="newer than this daemon"):
        await Journal.open(path)


@pytest.mark.asyncio
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_a_damaged_journal_is_an_error_naming_the_file_and_is_kept(
        tmp_path: Path, damage: str) -> None:
    path = tmp_path / "j.sqlite3"
    j = await Journal.open(path)
    for n in range(200):  # enough pages that a truncation cuts tables in half
        await j.record_intent(order(f"td-a-{n}"))
    await j.close()
    data = path.read_bytes()
    damaged = b"not a database at all\n" * 50 if damage == "garbage" else data[:len(data) // 2]
    path.write_bytes(damaged)
    with pytest.raises(JournalError, match=str(path)):
        await Journal.open(path)
    assert path.read_bytes() == damaged  # never silently replaced


def test_the_daemon_exits_78_on_a_garbage_journal(tmp_path: Path) -> None:
    from tests.support.configs import BUY_ONCE, fast_config

    cfg = fast_config(tmp_path, BUY_ONCE)
    (tmp_path / "state").mkdir()
    bad = tmp_path / "state" / "journal.sqlite3"
    bad.write_bytes(b"\x00garbage" * 100)
    proc = subprocess.run([sys.executable, "-m", "daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78, proc.stderr
    assert f"journal error: journal {bad}" in proc.stderr
    assert bad.read_bytes() == b"\x00garbage" * 100


def test_quote_spent_counts_cost_proceeds_and_only_quote_fees() -> None:
    buy = Fill("td-a-1", "1", "BTC/USDT", Side.BUY, D("0.01"), D("60000"), D("0.6"), 1,
               fee_base=D("0.00001"))  # fee taken in BTC: no USDT paid for it
    sell = Fill("td-a-2", "2", "BTC/USDT", Side.SELL, D("0.004"), D("61000"), D("0.244"), 2)
    assert quote_spent([buy, sell]) == {"USDT": D("600") - D("244") + D("0.244")}


# --- a journal that must not be (re)created ---------------------------------------------------

@pytest.mark.asyncio
async def test_an_empty_journal_is_an_error_not_a_new_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(JournalError, match=f"journal {path} is empty \\(0 bytes\\)"):
        await Journal.open(path)
    assert path.read_bytes() == b""  # kept as it was, for the operator to look at


@pytest.mark.asyncio
@pytest.mark.parametrize("left", ["risk_state.json", "final_state.json", "journal.sqlite3-wal"])
async def test_a_missing_journal_after_an_earlier_run_is_refused(tmp_path: Path,
                                                                left: str) -> None:
    (tmp_path / left).write_text("{}")
    path = tmp_path / "journal.sqlite3"
    with pytest.raises(JournalError) as err:
        await Journal.open(path)
    message = str(err.value)
    assert f"journal {path} is missing" in message and left in message
    assert "Restore the journal" in message and "move the state directory aside" in message
    assert not path.exists()


@pytest.mark.asyncio
async def test_a_new_journal_appears_whole_even_after_an_interrupted_creation(
        tmp_path: Path) -> None:
    """A creation killed half way leaves only its temporary file: the next start builds the
    journal again and renames it into place; nothing temporary is left."""
    (tmp_path / "journal.sqlite3.new").write_bytes(b"half a database")
    j = await Journal.open(tmp_path / "journal.sqlite3")
    await j.record_intent(order("td-a-1"))
    await j.close()
    assert os.listdir(tmp_path) == ["journal.sqlite3"]
    j = await Journal.open(tmp_path / "journal.sqlite3")
    assert [o.client_order_id for o in await j.unsettled()] == ["td-a-1"]
    await j.close()


@pytest.mark.parametrize("case", ["empty", "lost"])
def test_the_daemon_exits_78_instead_of_starting_a_fresh_journal(tmp_path: Path,
                                                                 case: str) -> None:
    """Steps: a state dir with a 0-byte journal, or with risk_state.json but no journal; `run`
    exits 78 naming the journal and telling the operator what to do; nothing is created."""
    from tests.support.configs import BUY_ONCE, fast_config

    cfg = fast_config(tmp_path, BUY_ONCE)
    state = tmp_path / "state"
    state.mkdir()
    journal = state / "journal.sqlite3"
    if case == "empty":
        journal.write_bytes(b"")
    else:
        (state / "risk_state.json").write_text("{}")
    proc = subprocess.run([sys.executable, "-m", "daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith(f"tradingd: journal error: journal {journal} is ")
    assert "move the state directory" in proc.stderr and proc.stdout == ""
    assert (journal.read_bytes() == b"") if case == "empty" else not journal.exists()
