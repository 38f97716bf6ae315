"""The exit codes are a contract with systemd (the units' RestartPreventExitStatus=77 78),
scripts and the README's table: one enum holds them, and their values do not move."""

from __future__ import annotations

from pathlib import Path

from daemon.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def test_every_exit_code_keeps_its_value() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "NOT_FLAT": 1, "HALTED": 3, "DATA": 65, "UNAVAILABLE": 69, "CRASH": 70,
        "AUTH": 77, "CONFIG": 78}
    assert ExitCode.UNKNOWN is ExitCode.NOT_FLAT is ExitCode.REFUSED  # 1, three meanings


def test_systemd_does_not_restart_what_a_restart_cannot_fix() -> None:
    for unit in ("tradingd.service", "tradingd@.service"):
        text = (ROOT / "systemd" / unit).read_text()
        assert f"RestartPreventExitStatus={ExitCode.AUTH:d} {ExitCode.CONFIG:d}" in text
