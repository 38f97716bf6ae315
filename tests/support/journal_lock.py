"""Hold the journal's write lock from a second connection, as another process could.

The journal thread's next write then waits on the lock (SQLite's busy timeout, 5 s), which
lets a test act while a write is under way: cancel the task awaiting it, for one. Nothing of
the journal is replaced; the test only watches its thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support.wait import eventually_async


class WriteLock:
    """A second connection to the journal; closed on leaving `with`."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=0)

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._db.close()

    def hold(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def has_order(self, client_order_id: str) -> bool:
        """Read without the event loop: the journal's own reads would let it run."""
        return self._db.execute("SELECT 1 FROM orders WHERE client_order_id = ?",
                                (client_order_id,)).fetchone() is not None

    def release(self) -> None:
        self._db.execute("ROLLBACK")

    async def cancel_mid_write(self, task: asyncio.Task[Any], what: str) -> None:
        """With the lock held: wait until the journal thread is writing (blocked on it), cancel
        `task`, let the write go on, and check the cancel reached the task."""
        await eventually_async(journal_thread_writing, what=what)
        task.cancel()
        self.release()
        with pytest.raises(asyncio.CancelledError):
            await task


def journal_thread_writing() -> bool:
    """True while a journal thread is inside a write transaction (waiting on the lock)."""
    frames = sys._current_frames()
    for thread in threading.enumerate():
        if not thread.name.startswith("journal") or thread.ident not in frames:
            continue
        frame = frames[thread.ident]
        while frame is not None:
            if frame.f_code.co_name == "_tx":
                return True
            frame = frame.f_back
    return False
