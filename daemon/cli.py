"""Command line: arguments -> config -> logging -> asyncio.Runner(uvloop) -> exit code."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from pathlib import Path

from daemon.commands.replay import add_arguments as replay_arguments
from daemon.config import ConfigError
from daemon.exitcodes import ExitCode
from daemon.ops import log, startup_signals
from daemon.risk.latch import StateError

DESCRIPTION = """\
tradingd: a live trading daemon. A strategy turns market data into order intents; every intent
passes the risk gate before it reaches the broker (paper or exchange). SIGTERM/SIGINT stop it
gracefully: no new risk, cancel working orders, flatten, exit 0 only when flat. SIGUSR1 is
the kill switch (halt, cancel, flatten, stay up); SIGHUP reloads the [risk] section.

exit codes: 0 stopped flat | 1 not flat at the flatten deadline | 69 the exchange could not
be reached at startup (nothing started) | 70 a task crashed (books flattened) | 77 the exchange
refused the credentials | 78 configuration or state error, an unreadable journal, or a
listener that cannot bind (nothing started)"""

# A raw bind failure (the metrics listener names its key itself; this catches the control
# listener's): nothing else the daemon does raises these as a bare OSError.
_LISTEN_ERRNOS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)


def fail(message: str) -> None:
    """One line on stderr, secrets redacted (an exchange's error text may echo a key)."""
    print(log.redact(f"tradingd: {message}"), file=sys.stderr)


# Each command's module, imported only when it runs: `ctl` and `--help` load no torch, aiohttp
# or ccxt.
COMMANDS = {"run": "run", "check-config": "check_config", "replay": "replay", "ctl": "ctl",
            "clear-halt": "clear_halt", "data": "research", "train": "research",
            "backtest": "research", "sweep": "research"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradingd", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, type=Path, help="path to config.toml")
    check = sub.add_parser("check-config",
                           help="validate a config (and load its strategy) without trading")
    check.add_argument("--config", required=True, type=Path, help="path to config.toml")
    replay = sub.add_parser("replay", help="replay recorded trades or candles through the "
                            "daemon on paper, as fast as it goes")
    replay_arguments(replay)
    ctl = sub.add_parser("ctl", help="talk to a running daemon's control API",
                         description="exit codes: 0 done | 1 refused now (409) | 69 daemon not "
                         "reachable | 77 token refused | 78 control disabled or no token")
    ctl.add_argument("action", choices=["status", "halt", "resume", "flatten", "twap", "pov",
                                        "algos", "cancel-algo"])
    ctl.add_argument("id", nargs="?", help="cancel-algo: the parent order's id (ctl algos)")
    ctl.add_argument("--config", required=True, type=Path, help="the daemon's config.toml")
    ctl.add_argument("--token-file", type=Path, help="file holding the control token")
    algo = ctl.add_argument_group("twap / pov: a parent order, each child through the gate")
    algo.add_argument("--symbol", help="e.g. BTC/USDT")
    algo.add_argument("--side", choices=["buy", "sell"])
    algo.add_argument("--qty", help="target quantity (base units)")
    algo.add_argument("--over", help="duration: 90s, 30m, 2h (twap: required; pov: 1h)")
    algo.add_argument("--slices", type=int, default=10, help="twap: children (default 10)")
    algo.add_argument("--limit-at-touch", action="store_true",
                      help="twap: each child a limit at the touch (default: market)")
    algo.add_argument("--rate", help="pov: share of traded volume, e.g. 0.1")
    algo.add_argument("--seed", type=int, default=0, help="twap: the timing's seed (0: the "
                      "parent's id)")
    clear = sub.add_parser("clear-halt", help="clear a latched HALT with the daemon stopped "
                           "(running: `tradingd ctl resume`); the next start trades if "
                           "reconciliation passes")
    clear.add_argument("--config", required=True, type=Path, help="path to config.toml")
    clear.add_argument("--reason", required=True, help="why it is safe: kept in the log")
    from daemon.research import commands as research  # argparse only: no research library

    research.add_parsers(sub)
    return parser


def _unexpected(err: Exception) -> int:
    """A failure nothing above expected: the traceback goes to the log (redacted), one line to
    stderr, and the exit code says what we know: not that the books are flat."""
    log.get("cli").error("daemon.failed", error=repr(err), exc_info=err,
                         exit_code=int(ExitCode.UNKNOWN))
    fail(f"unexpected error: {err!r}; treat the books as not flat (traceback in the log: "
         f"daemon.failed)")
    return ExitCode.UNKNOWN


def main(argv: list[str] | None = None) -> int:
    log.install_process_hooks()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `ctl cancel-algo --config c.toml ID`: argparse takes a subcommand's positionals together,
    # so an id after the options is left over; it is the id, wherever it was typed.
    if args.command == "ctl" and args.id is None and len(extra) == 1 and \
            not extra[0].startswith("-"):
        args.id, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        startup_signals.install()  # the console script's path (`python -m daemon` did already)
    from daemon.journal.store import JournalError

    try:
        command = importlib.import_module(f"daemon.commands.{COMMANDS[args.command]}")
        code: int = command.main(args, fail)
        return code
    except ConfigError as err:
        fail(f"config error: {err}")
        return ExitCode.CONFIG
    except StateError as err:
        fail(f"state error: {err}")
        return ExitCode.CONFIG
    except JournalError as err:
        # Like a config error, a restart cannot fix it: 78 stops systemd's restart loop.
        fail(f"journal error: {err}")
        return ExitCode.CONFIG
    except OSError as err:
        if args.command != "run":
            raise
        if err.errno not in _LISTEN_ERRNOS:
            return _unexpected(err)
        fail(f"config error: control: cannot listen: {os.strerror(err.errno or 0).lower()} "
             f"(control.listen / control.unix)")
        return ExitCode.CONFIG
    except Exception as err:
        if args.command != "run":
            raise  # printed, redacted, by the process hook
        return _unexpected(err)


if __name__ == "__main__":
    sys.exit(main())
