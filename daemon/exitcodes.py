"""Every exit code `tradingd` can end with, in one place: the process's contract with systemd
(`RestartPreventExitStatus=77 78`), with scripts and with operators.

Codes from sysexits.h where one fits. One value may carry several names, each saying what it
means where it is returned (1 is "not flat" from the daemon, "unknown" for an unexpected error,
"refused" from `ctl`): Python makes the later names aliases of the first.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    NOT_FLAT = 1  # the flatten deadline passed with a position or a working order left
    UNKNOWN = 1  # an unexpected error: whether the books are flat is unknown, so "not flat"
    REFUSED = 1  # ctl: the daemon answered but would not do it now (409 while flattening)
    HALTED = 3  # replay: it ran, but a circuit breaker (or the drift check) halted trading
    DATA = 65  # EX_DATAERR: the data file cannot be replayed
    UNAVAILABLE = 69  # EX_UNAVAILABLE: the exchange (or, for ctl, the daemon) is unreachable
    CRASH = 70  # EX_SOFTWARE: a task failed; the books were flattened if the exit says so
    AUTH = 77  # EX_NOPERM: credentials (or ctl's token) refused; a restart will not help
    CONFIG = 78  # EX_CONFIG: configuration or state error; nothing was started
