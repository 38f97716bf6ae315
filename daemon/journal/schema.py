"""The journal's file: created, refused or checked, then migrated to the current schema.

A journal is never replaced or re-initialized behind the operator's back, because a fresh one
would forget live orders and positions:
- an existing file must be a sound SQLite database (`PRAGMA quick_check`); a 0-byte file is an
  error, not a new journal;
- a missing journal is created only where no earlier run left its files (`PRIOR_RUN_FILES`);
- a new journal is built under a temporary name and renamed into place, so a crash while
  creating it leaves no 0-byte or half-made journal that the next start would refuse;
- a journal from a newer daemon (a later schema) is refused rather than guessed at.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from daemon.ops import log
from daemon.risk.latch import FILE_NAME as RISK_STATE_FILE

_log = log.get("journal")
FILENAME = "journal.sqlite3"
# Files a run leaves in the state directory: finding one where the journal is missing means
# the journal was lost, not that this is a first start (app.py writes the final state).
PRIOR_RUN_FILES = (RISK_STATE_FILE, "final_state.json", FILENAME + "-wal")


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message names the file."""


# Migrations, oldest first. A fresh journal runs them all, so every step is exercised on every
# new install, not only on upgrades. Append; never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    # 1: orders and fills
    """
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, order_type TEXT NOT NULL,
        limit_price TEXT, reduce_only INTEGER NOT NULL, tag TEXT NOT NULL,
        created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
        state TEXT NOT NULL, filled_qty TEXT NOT NULL DEFAULT '0',
        venue_order_id TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '');
    CREATE TABLE fills (
        symbol TEXT NOT NULL, trade_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
        side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL, fee_quote TEXT NOT NULL,
        fee_base TEXT NOT NULL, ts_ns INTEGER NOT NULL, booked_ns INTEGER NOT NULL,
        PRIMARY KEY (symbol, trade_id));
    CREATE INDEX fills_by_order ON fills (client_order_id);
    """,
    # 2: settled flag (what reconciliation still has to check), latched risk state, run ids
    """
    ALTER TABLE orders ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
    UPDATE orders SET settled = 1 WHERE state IN ('filled', 'rejected');
    CREATE INDEX orders_unsettled ON orders (settled) WHERE settled = 0;
    CREATE TABLE risk_state (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL, reason TEXT NOT NULL, ts_ns INTEGER NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: step 2's risk_state table was never written (it cannot hold what the breakers carry;
    # the journal keeps its copy of the risk state in `meta`)
    """
    DROP TABLE IF EXISTS risk_state;
    """,
    # 4: funding settlements of swap positions, each once (by the venue's id)
    """
    CREATE TABLE funding (
        symbol TEXT NOT NULL, funding_id TEXT NOT NULL, amount TEXT NOT NULL,
        ts_ns INTEGER NOT NULL, booked_ns INTEGER NOT NULL,
        PRIMARY KEY (symbol, funding_id));
    """,
    # 5: parent orders of the execution algorithms (TWAP, POV); their children are orders
    # tagged `algo:<parent_id>`, so what a parent filled is the sum of those orders' fills
    """
    CREATE TABLE parents (
        parent_id TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT NOT NULL,
        created_ns INTEGER NOT NULL, arrival_mid TEXT NOT NULL, state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', updated_ns INTEGER NOT NULL);
    CREATE INDEX parents_active ON parents (state) WHERE state = 'active';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the journal at `path`, checked and migrated, in WAL mode.

    Raises `JournalError` for a journal that must not be used; `OSError` and
    `sqlite3.DatabaseError` pass through for the caller to name the file."""
    if path.exists():
        if path.stat().st_size == 0:
            raise JournalError(
                f"journal {path} is empty (0 bytes). It is not re-initialized: it may be "
                f"what is left of a journal that held live orders (a failed copy or restore, "
                f"a full disk). Check the exchange's open orders and positions by hand, then "
                f"restore the journal from a backup, or move the state directory "
                f"{path.parent} aside deliberately to start afresh")
    else:
        _refuse_if_a_run_was_here(path)
        _create(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    try:
        # Catches a truncated or overwritten file before anything trusts it.
        problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise JournalError(f"journal {path} is corrupt: {problems[:3]}")
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise JournalError(f"journal {path}: cannot switch to WAL mode")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _refuse_if_a_run_was_here(path: Path) -> None:
    found = [name for name in PRIOR_RUN_FILES if (path.parent / name).exists()]
    if found:
        raise JournalError(
            f"journal {path} is missing, but {path.parent} holds {', '.join(found)} from an "
            f"earlier run: a fresh journal would forget that run's positions and open orders. "
            f"Restore the journal (with its -wal file) from a backup; or check the exchange's "
            f"open orders and positions by hand, then move the state directory aside "
            f"deliberately to start afresh")


def _create(path: Path) -> None:
    """Build a new journal under a temporary name, then rename it into place."""
    tmp = path.with_name(path.name + ".new")
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)  # an interrupted creation's: it never held a record
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise JournalError(f"journal {path}: cannot switch to WAL mode")
        migrate(db, path)
    finally:
        db.close()  # the last connection: checkpoints, and removes tmp's -wal and -shm
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)  # the rename is durable only once the directory entry is on disk
    _log.info("journal.created", path=str(path))


def migrate(db: sqlite3.Connection, path: Path | str) -> int:
    """Bring the schema to `SCHEMA_VERSION`, one transaction per step; return the old version.

    A journal written by a newer daemon is refused rather than guessed at."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version "
               "(version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)")
    current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise JournalError(f"journal {path} has schema version {current}, newer than this "
                           f"daemon's {SCHEMA_VERSION}: run the newer daemon")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time_ns()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return int(current)


def file_ids(path: Path) -> dict[Path, tuple[int, int]]:
    """(device, inode) of the journal and its -wal file as they are on disk now, for those
    that exist: the open database must stay these files (`journal_watch`)."""
    out = {}
    for name in (path, Path(f"{path}-wal")):
        try:
            st = name.stat()
        except FileNotFoundError:
            continue
        out[name] = (st.st_dev, st.st_ino)
    return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
