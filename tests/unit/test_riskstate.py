"""The halt latch on disk: round trip, atomic replace, and no silent "not halted"."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon.riskstate import JsonFileStore, RiskState, StateError

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
                                     b'{"version": 2, "halted": false}'])
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
