"""Persisted risk state: the halt latch and what the circuit breakers carry across a restart.

Behind a two-method interface (`RiskStateStore`), kept in two copies: `risk_state.json` under
`daemon.state_dir` (`JsonFileStore`, written atomically: temp file, fsync, rename, fsync of the
directory, so a crash leaves the old state or the new one) and, when the daemon has one, the
journal (`journal.JournalRiskStore`). At startup the two are merged by `stricter`: halted if
either says so, the worse of the carried PnL and drawdown. One copy lost or deleted therefore
never un-latches a halt or hands out a fresh loss budget; a daemon on an in-memory journal (a
replay) has the file alone.

A missing file means "never halted". A file that exists but cannot be read or decoded is a
`StateError` at startup: silently starting "not halted" would undo an operator's latch.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import msgspec

from daemon.atomic import write_atomic
from daemon.model import ZERO

FILE_NAME = "risk_state.json"
DAY_NS = 86_400 * 1_000_000_000
VERSION = 2  # 2 added `total_pnl`; a version 1 file still reads (its total_pnl is None)


class StateError(Exception):
    """Persisted state that cannot be trusted; the daemon refuses to start on it."""


class RiskState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int = VERSION
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
    # What the books had made when this was saved (equity - starting capital: realized +
    # unrealized - fees): the point `daily_pnl` and `drawdown` were measured at. A restart
    # rebuilds the books from the journal before any price arrives, so the restored equity
    # values open positions at cost; this says where the saved numbers stand against the
    # rebuilt books, whatever the marks and even if the allotted capital changed. None: not
    # known (a version 1 file, or a cleared latch).
    total_pnl: Decimal | None = None


def version_problem(state: RiskState) -> str | None:
    """Why a decoded copy cannot be used, whichever store it came from; None if it can."""
    if not 1 <= state.version <= VERSION:
        return f"unknown risk state version {state.version}"
    return None


def utc_day(ts_ns: int) -> str:
    return datetime.datetime.fromtimestamp(ts_ns // 1_000_000_000, datetime.UTC).date().isoformat()


class RiskStateStore(Protocol):
    path: Path  # where this copy lives, for messages

    def load(self) -> RiskState | None:
        """The saved state, None if none was ever saved; `StateError` if it is unreadable."""

    def save(self, state: RiskState, durable: bool = True) -> None:
        """Persist atomically; `StateError` if that failed (the caller keeps its state).

        `durable` waits until the state is on disk (a halt, a resume). Without it the write
        survives the process crashing but maybe not the machine: for routine bookkeeping that
        must not stall the event loop on a slow disk."""


def stricter(a: RiskState | None, b: RiskState | None) -> RiskState | None:
    """Two copies of the risk state merged the safe way: halted if either copy is; today's PnL
    and the drawdown the worse of the two.

    The copies normally agree: they are written together. They differ when one was lost,
    deleted, restored from an old backup, or missed its last write in a crash; whichever it
    was, trusting the stricter copy can only halt too much, never trade on a forgotten halt.
    Each copy's numbers are measured from its own `total_pnl`, so they are compared as levels
    (where today began, where the peak stood) in the terms of the newer copy."""
    if a is None or b is None:
        return a if b is None else b
    newer, older = (a, b) if a.updated_ns >= b.updated_ns else (b, a)
    latch = newer if newer.halted or not older.halted else older
    shift = ZERO  # the older copy's measuring point, relative to the newer one's
    if newer.total_pnl is not None and older.total_pnl is not None:
        shift = older.total_pnl - newer.total_pnl
    # Today's PnL counts only from a copy of today (the later day of the two).
    day_start = -newer.daily_pnl
    if older.day == newer.day:
        day_start = max(day_start, shift - older.daily_pnl)
    elif older.day > newer.day:
        day_start = shift - older.daily_pnl
    day = max(newer.day, older.day)
    peak = max(newer.drawdown, shift + older.drawdown)
    return msgspec.structs.replace(
        newer, version=VERSION, halted=latch.halted, halt_reason=latch.halt_reason,
        halt_detail=latch.halt_detail, halted_ns=latch.halted_ns, day=day,
        daily_pnl=-day_start, drawdown=max(ZERO, peak))


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
        if (problem := version_problem(state)) is not None:
            raise StateError(f"{self.path}: {problem}")
        return state

    def save(self, state: RiskState, durable: bool = True) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, msgspec.json.format(msgspec.json.encode(state)) + b"\n",
                         durable=durable, mode=0o600)
        except OSError as err:
            raise StateError(f"{self.path}: cannot save the risk state: {err}") from None

