"""Watches the journal while the daemon trades: its files must still be the ones it writes, and
its writes must succeed.

A journal deleted (`rm state/journal.sqlite3*`) or replaced while the daemon runs goes on
working through the descriptors SQLite holds, into files nobody will read again: what it books
there is gone at the next start (which then refuses to start, exit 78). A write that fails (a
full disk, an I/O error) leaves the journal behind the books. Either way there is no durable
record, and the daemon must not trade on. So, within `CHECK_INTERVAL_S` of a deletion or
replacement (the path's device and inode compared with those of the files opened), and at once
on a failed journal call, the daemon:

- logs `journal.lost` (error) with what happened, once, and sets `tradingd_journal_lost` to 1
  (alert `TradingdJournalLost`);
- halts through the risk supervisor (`breaker="journal"`): latched in `risk_state.json`, every
  working order cancelled, every position flattened, and a resume refused until a restart;
- keeps running and reporting (metrics, health, control API) like any halted daemon.

The flatten still records each close before it sends it: into the orphaned file after a
deletion, which still takes writes; after a failed write, a close the journal cannot take is not
sent, and the flatten asks again each round.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from daemon.clock import Clock
from daemon.journal.store import Journal
from daemon.ops import log
from daemon.ops.metrics import Metrics

_log = log.get("journal")
CHECK_INTERVAL_S = 1.0


class JournalWatch:
    def __init__(self, journal: Journal, metrics: Metrics, clock: Clock,
                 halt: Callable[[str], object]) -> None:
        """`halt(detail)`: halt the daemon until a restart (the supervisor's)."""
        self._journal = journal
        self._metrics = metrics
        self._clock = clock
        self._halt = halt
        self.lost: str | None = None
        metrics.journal_lost.set(0)

    async def run(self) -> None:
        """Check the files every CHECK_INTERVAL_S; report failed calls as they happen."""
        log.bind_task("journal_watch")
        self._journal.on_failure = lambda error: self._lose("write_failed", error)
        while True:
            changed = self.check()
            if changed is not None:
                self._lose(*changed)
            await self._clock.sleep(CHECK_INTERVAL_S)

    def check(self) -> tuple[str, str] | None:
        """(reason, detail) if a journal file on disk is no longer the one opened."""
        for path, opened in self._journal.file_ids.items():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return "deleted", f"{path} was deleted while the daemon ran"
            except OSError as err:
                return "unreadable", f"{path}: {err.strerror}"
            if (st.st_dev, st.st_ino) != opened:
                return "replaced", f"{path} was replaced while the daemon ran (inode " \
                                   f"{opened[1]}, now {st.st_ino})"
        return None

    def _lose(self, reason: str, detail: str) -> None:
        if self.lost is not None:
            return  # halted already; the first cause is the one to fix
        self.lost = detail
        self._metrics.journal_lost.set(1)
        _log.error("journal.lost", reason=reason, detail=detail, path=str(self._journal.path),
                   action="halted: cancel, flatten, no trading until a restart with a sound "
                          "journal (restore it, or check the venue and start afresh)")
        self._halt(f"journal {reason}: {detail}")
