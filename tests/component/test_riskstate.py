"""The halt latch on disk: round trip, atomic replace, no silent "not halted", and the merge of
its two copies (risk_state.json and the journal's)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon.commands.clear_halt import clear_halt
from daemon.journal.store import Journal, journal_path
from daemon.risk.latch import JsonFileStore, RiskState, StateError, stricter

HALTED = RiskState(halted=True, halt_reason="drawdown", halt_detail="x", halted_ns=5,
                   day="2026-03-01", daily_pnl=D("-1.5"), drawdown=D("2.25"), updated_ns=7)


def test_missing_file_means_never_halted(tmp_path: Path) -> None:
    assert JsonFileStore(tmp_path / "risk_state.json").load() is None


def test_round_trip_is_exact_and_private(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "sub" / "risk_state.json")
    store.save(HALTED)
    assert store.load() == HALTED
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert not store.path.with_name("risk_state.json.tmp").exists()


def test_save_replaces_the_old_state_whole(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "risk_state.json")
    store.save(HALTED)
    store.save(RiskState())
    assert store.load() == RiskState()


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"halted": "yes"}',
                                     b'{"halted": true, "halted_by": "me"}',
                                     b'{"version": 3, "halted": false}'])
def test_a_corrupt_latch_is_an_error_not_a_fresh_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "risk_state.json"
    path.write_bytes(content)
    with pytest.raises(StateError, match=r"risk_state\.json"):
        JsonFileStore(path).load()


def test_an_unreadable_latch_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "risk_state.json").mkdir()  # unreadable as a file, even for root
    with pytest.raises(StateError, match="cannot read"):
        JsonFileStore(tmp_path / "risk_state.json").load()


def test_a_failed_save_raises_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot save"):
        JsonFileStore(blocker / "risk_state.json").save(HALTED)


def test_a_version_1_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "risk_state.json"
    path.write_bytes(b'{"version": 1, "halted": true, "halt_reason": "drawdown", '
                     b'"day": "2026-03-01", "daily_pnl": "-5", "drawdown": "6"}')
    state = JsonFileStore(path).load()
    assert state is not None and state.halted and state.total_pnl is None


# --- two copies: the stricter holds ------------------------------------------------------------

DAY = "2026-03-01"


def copy(updated_ns: int, total: str | None, daily: str, drawdown: str, day: str = DAY,
         halted: bool = False, reason: str = "") -> RiskState:
    return RiskState(halted=halted, halt_reason=reason, halted_ns=updated_ns if halted else 0,
                     day=day, daily_pnl=D(daily), drawdown=D(drawdown), updated_ns=updated_ns,
                     total_pnl=None if total is None else D(total))


def test_one_copy_alone_is_taken_as_it_is() -> None:
    only = copy(5, "-10", "-10", "10", halted=True, reason="kill_switch")
    assert stricter(only, None) == only and stricter(None, only) == only
    assert stricter(None, None) is None


def test_halted_if_either_copy_is_whichever_is_newer() -> None:
    halted = copy(5, "-10", "-10", "10", halted=True, reason="drawdown")
    cleared = copy(9, "-10", "0", "0")  # a later resume whose other copy was lost
    for a, b in ((halted, cleared), (cleared, halted)):
        merged = stricter(a, b)
        assert merged is not None and merged.halted and merged.halt_reason == "drawdown"
        assert merged.halted_ns == 5 and merged.updated_ns == 9


def test_copies_that_agree_merge_to_themselves() -> None:
    a = copy(9, "-300", "-250", "400")
    assert stricter(a, a) == a


def test_the_worse_loss_and_drawdown_are_compared_where_each_was_measured() -> None:
    """An older copy measured at -100 (today -100, 120 below the peak) and a newer one at -50
    (the books recovered: today -50, 70 below): the same day start and peak, seen at two
    moments. Merged, the newer numbers stand: the older copy's are not news, and taking them
    at face value would count the recovery as a loss."""
    older, newer = copy(5, "-100", "-100", "120"), copy(9, "-50", "-50", "70")
    merged = stricter(older, newer)
    assert merged is not None
    assert (merged.daily_pnl, merged.drawdown, merged.total_pnl) == (D(-50), D(70), D(-50))
    # A copy whose day started higher (more lost since) or whose peak stood higher wins.
    worse = copy(5, "-100", "-300", "500")  # day began at +200, peak at +400
    merged = stricter(worse, newer)
    assert merged is not None
    assert (merged.daily_pnl, merged.drawdown, merged.total_pnl) == (D(-250), D(450), D(-50))


def test_yesterdays_copy_keeps_its_drawdown_but_not_its_daily_loss() -> None:
    yesterday = copy(5, "-500", "-500", "500", day="2026-02-28")
    today = copy(9, "-500", "0", "100")
    merged = stricter(yesterday, today)
    assert merged is not None and merged.day == DAY
    assert (merged.daily_pnl, merged.drawdown) == (D(0), D(500))


def test_copies_without_a_measuring_point_take_the_worse_number_each() -> None:
    a, b = copy(5, None, "-300", "100"), copy(9, None, "-100", "400")
    merged = stricter(a, b)
    assert merged is not None and (merged.daily_pnl, merged.drawdown) == (D(-300), D(400))


# --- clear-halt, with the daemon stopped: both copies -----------------------------------------

async def _journal_copy(state_dir: Path, save: RiskState | None = None) -> RiskState | None:
    journal = await Journal.open(journal_path(state_dir))
    try:
        if save is not None:
            await journal.save_risk_state(save)
        return await journal.load_risk_state()
    finally:
        await journal.close()


@pytest.mark.parametrize("file_too", [True, False])
def test_clear_halt_clears_the_journals_copy_as_well(tmp_path: Path, file_too: bool) -> None:
    """A halt latched in the journal (and in risk_state.json, or with that file lost) is
    cleared in both copies; asked again, there is nothing left to clear."""
    asyncio.run(_journal_copy(tmp_path, HALTED))
    if file_too:
        JsonFileStore(tmp_path / "risk_state.json").save(HALTED)
    assert clear_halt(tmp_path) == HALTED
    assert asyncio.run(_journal_copy(tmp_path)) == RiskState()
    assert JsonFileStore(tmp_path / "risk_state.json").load() == RiskState()
    assert clear_halt(tmp_path) is None


def test_clear_halt_without_a_journal_clears_the_file(tmp_path: Path) -> None:
    JsonFileStore(tmp_path / "risk_state.json").save(HALTED)
    assert clear_halt(tmp_path) == HALTED
    assert JsonFileStore(tmp_path / "risk_state.json").load() == RiskState()
    assert not journal_path(tmp_path).exists()  # none is made
