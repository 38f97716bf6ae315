"""SIGTERM/SIGINT before the daemon's own handlers are installed: a clean exit with a log line.

Until `Daemon.run` installs its handlers, a stop signal took the default action: the process
died without a word. That window is real: the first second or two are imports (torch), then
the journal is opened and the venue reached — systemd's stop or an operator's Ctrl-C can land
there. So `tradingd run` calls `install()` before anything else: the handler only records the
signal (and, once startup runs on the event loop, cancels it: `on_loop`). The startup unwinds
through its `finally` blocks (venue clients and journal closed); nothing was traded, no order
sent; the CLI logs `shutdown.before_start` and exits 0. From `Daemon.run` on, the daemon's
own handlers replace these: a stop is then a flatten. Only stdlib here: it is imported first.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_requested: str | None = None


def install() -> None:
    """Catch the stop signals from now on (process start, before the heavy imports)."""
    for sig in SIGNALS:
        signal.signal(sig, _record)


def _record(signum: int, _: FrameType | None) -> None:
    global _requested
    if _requested is None:
        _requested = signal.Signals(signum).name


def requested() -> str | None:
    """The stop signal that arrived before the daemon's handlers, if one did."""
    return _requested


def on_loop() -> None:
    """Startup now runs as the current task on the event loop: a stop signal cancels it (at
    its next await), and one that came before ends it at once."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def stop(name: str) -> None:
        global _requested
        _requested = _requested or name
        task.cancel()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop, sig.name)
    if _requested is not None:
        task.cancel()
