"""Persisted risk state: the halt latch and what the circuit breakers carry across a restart.

Behind a two-method interface (`RiskStateStore`): a JSON file under `daemon.state_dir` today; the
journal (SQLite) will implement the same protocol. Writes are atomic (temp file, fsync, rename,
fsync of the directory), so a crash leaves the old state or the new one, never half of either.

A missing file means "never halted". A file that exists but cannot be read or decoded is a
`StateError` at startup: silently starting "not halted" would undo an operator's latch.
"""

from __future__ import annotations

import datetime
import os
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import msgspec

from daemon.model import ZERO

FILE_NAME = "risk_state.json"
DAY_NS = 86_400 * 1_000_000_000


class StateError(Exception):
    """Persisted state that cannot be trusted; the daemon refuses to start on it."""


class RiskState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int = 1
    halted: bool = False
    halt_reason: str = ""  # breaker name or "kill_switch"
    halt_detail: str = ""
    halted_ns: int = 0
    # Carried over so that a restart (or a crash loop) cannot reset the breakers: the loss so
    # far in `day` (UTC, ISO date) and how far equity stood below its peak, both quote.
    day: str = ""
    daily_pnl: Decimal = ZERO
    drawdown: Decimal = ZERO
    updated_ns: int = 0


def utc_day(ts_ns: int) -> str:
    return datetime.datetime.fromtimestamp(ts_ns // 1_000_000_000, datetime.UTC).date().isoformat()


class RiskStateStore(Protocol):
    def load(self) -> RiskState | None:
        """The saved state, None if none was ever saved; `StateError` if it is unreadable."""

    def save(self, state: RiskState, durable: bool = True) -> None:
        """Persist atomically; `StateError` if that failed (the caller keeps its state).

        `durable` waits until the state is on disk (a halt, a resume). Without it the write
        survives the process crashing but maybe not the machine: for routine bookkeeping that
        must not stall the event loop on a slow disk."""


class JsonFileStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> RiskState | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"{self.path}: cannot read the risk state: {err.strerror}. "
                             "It may hold a halt latch; fix access, do not delete it blindly"
                             ) from None
        try:
            state = msgspec.json.decode(data, type=RiskState)
        except msgspec.DecodeError as err:
            raise StateError(f"{self.path}: corrupt risk state ({err}). It may hold a halt "
                             "latch; inspect it, then repair or remove it to start") from None
        if state.version != 1:
            raise StateError(f"{self.path}: unknown risk state version {state.version}")
        return state

    def save(self, state: RiskState, durable: bool = True) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb", opener=_private) as fh:
                fh.write(msgspec.json.format(msgspec.json.encode(state)) + b"\n")
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            if durable:  # the rename is durable only once the directory entry is on disk
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as err:
            raise StateError(f"{self.path}: cannot save the risk state: {err}") from None


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
