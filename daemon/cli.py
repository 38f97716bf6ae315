"""Command line: arguments -> config -> logging -> asyncio.Runner(uvloop) -> exit code."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon import control_token, log, replay_cli, startup_signals
from daemon.config import EXIT_CONFIG, Config, ConfigError
from daemon.riskstate import StateError

DESCRIPTION = """\
tradingd: a live trading daemon. A strategy turns market data into order intents; every intent
passes the risk gate before it reaches the broker (paper or exchange). SIGTERM/SIGINT stop it
gracefully: no new risk, cancel working orders, flatten, exit 0 only when flat. SIGUSR1 is
the kill switch (halt, cancel, flatten, stay up); SIGHUP reloads the [risk] section.

exit codes: 0 stopped flat | 1 not flat at the flatten deadline | 69 the exchange could not
be reached at startup (nothing started) | 70 a task crashed (books flattened) | 77 the exchange
refused the credentials | 78 configuration or state error, an unreadable journal, or a
listener that cannot bind (nothing started)"""

EXIT_UNKNOWN = 1  # an unexpected error: whether the books are flat is unknown, so "not flat"
EXIT_UNAVAILABLE = 69
EXIT_AUTH = 77
# A raw bind failure (the metrics listener names its key itself; this catches the control
# listener's): nothing else the daemon does raises these as a bare OSError.
_LISTEN_ERRNOS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL)


def fail(message: str) -> None:
    """One line on stderr, secrets redacted (an exchange's error text may echo a key)."""
    print(log.redact(f"tradingd: {message}"), file=sys.stderr)


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
    replay_cli.add_arguments(replay)
    ctl = sub.add_parser("ctl", help="talk to a running daemon's control API",
                         description="exit codes: 0 done | 1 refused now (409) | 69 daemon not "
                         "reachable | 77 token refused | 78 control disabled or no token")
    ctl.add_argument("action", choices=["status", "halt", "resume", "flatten"])
    ctl.add_argument("--config", required=True, type=Path, help="the daemon's config.toml")
    ctl.add_argument("--token-file", type=Path, help="file holding the control token")
    clear = sub.add_parser("clear-halt", help="clear a latched HALT with the daemon stopped "
                           "(running: `tradingd ctl resume`); the next start trades if "
                           "reconciliation passes")
    clear.add_argument("--config", required=True, type=Path, help="path to config.toml")
    clear.add_argument("--reason", required=True, help="why it is safe: kept in the log")
    from daemon.research import commands as research  # argparse only: no research library

    research.add_parsers(sub)
    return parser


def load_all(path: Path) -> tuple[Config, Any]:
    """Config and strategy, or `ConfigError`. Loading the strategy checks its params and model."""
    from daemon.app import instruments_from_config
    from strategies.base import StrategyContext
    from strategies.base import load as load_strategy

    cfg = config_mod.load(path)
    ctx = StrategyContext(instruments_from_config(cfg), Path(cfg.config_dir))
    strategy = load_strategy(cfg.strategy.class_path, cfg.strategy.params, ctx)
    return cfg, strategy


def cmd_check_config(path: Path) -> int:
    cfg, strategy = load_all(path)
    print(f"config OK: {path}")
    print(f"  mode:        {cfg.daemon.mode.value} (market: {cfg.market.source.value})")
    print(f"  instruments: {', '.join(i.symbol for i in cfg.market.instruments)}")
    print(f"  strategy:    {cfg.strategy.class_path} "
          f"(bars of {strategy.bar_interval_ns / 1e9:g}s on {', '.join(strategy.symbols)})")
    r = cfg.risk
    print(f"  risk:        max order {r.max_order_notional}, max position "
          f"{r.max_position_notional}, gross {r.max_gross_exposure}, leverage "
          f"{r.max_leverage}x, collar {r.price_collar_bps} bps, "
          f"{r.max_orders_per_second} orders/s, {r.max_orders_per_minute} orders/min, "
          f"stale after {r.stale_data_s}s, start {r.initial_state.value}")
    print(f"  breakers:    daily loss {r.max_daily_loss}, drawdown {r.max_drawdown_pct}%, "
          f"{r.max_rejections_per_minute} rejections/min")
    c = cfg.control
    where = f"unix socket {c.unix} under state_dir" if c.unix else f"http://{c.address}"
    print(f"  control:     {where if c.enabled else 'off'}")
    print(f"  shutdown:    flatten within {cfg.shutdown.flatten_timeout_s}s")
    print(f"  metrics:     http://{cfg.metrics.listen}/metrics")
    return 0


def cmd_run(path: Path) -> int:
    cfg, _ = load_all(path)  # validates the strategy before anything connects anywhere
    token = control_token.require() if cfg.control.enabled else None
    log.configure(os.environ.get("LOG_LEVEL", cfg.daemon.log_level))
    if (early := startup_signals.requested()) is not None:
        return _stopped_before_start(early)
    import uvloop

    from daemon import runtime
    from daemon.broker.base import FatalBrokerError

    async def start() -> int:
        startup_signals.on_loop()  # until Daemon.run installs its own handlers
        return await runtime.run(cfg, config_path=path, control_token=token)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(start())
    except asyncio.CancelledError:
        if (early := startup_signals.requested()) is None:
            raise
        return _stopped_before_start(early)
    except runtime.VenueUnavailable as err:
        fail(f"exchange unavailable: {err}")
        return EXIT_UNAVAILABLE
    except FatalBrokerError as err:
        fail(str(err))
        return EXIT_AUTH


def _stopped_before_start(signal_name: str) -> int:
    """A stop signal came before the daemon's handlers: nothing traded, nothing to flatten."""
    log.get("cli").info("shutdown.before_start", signal=signal_name, exit_code=0,
                        note="stopped while starting: nothing traded, no order sent")
    return 0


def _unexpected(err: Exception) -> int:
    """A failure nothing above expected: the traceback goes to the log (redacted), one line to
    stderr, and the exit code says what we know: not that the books are flat."""
    log.get("cli").error("daemon.failed", error=repr(err), exc_info=err, exit_code=EXIT_UNKNOWN)
    fail(f"unexpected error: {err!r}; treat the books as not flat (traceback in the log: "
         f"daemon.failed)")
    return EXIT_UNKNOWN


def cmd_clear_halt(path: Path, reason: str) -> int:
    """Clear a latched halt with the daemon stopped: what `ctl resume` does to the latch, so
    the breakers start again from the equity the next start sees (the losses are accepted)."""
    from daemon.riskstate import clear_halt

    cfg = config_mod.load(path)
    latched = clear_halt(config_mod.resolve_path(cfg, cfg.daemon.state_dir))
    if latched is None:
        print("no halt was latched")
        return 0
    print(f"halt cleared (was: {latched.halt_detail or latched.halt_reason}); "
          f"operator's reason: {reason}")
    return 0


def main(argv: list[str] | None = None) -> int:
    log.install_process_hooks()
    args = build_parser().parse_args(argv)
    if args.command == "run":
        startup_signals.install()  # the console script's path (`python -m daemon` did already)
    from daemon.journal import JournalError

    try:
        if args.command == "check-config":
            return cmd_check_config(args.config)
        if args.command == "replay":
            return replay_cli.run(args)
        if args.command == "ctl":
            from daemon import ctl
            return ctl.run(args.config, args.action, args.token_file)
        if args.command == "clear-halt":
            return cmd_clear_halt(args.config, args.reason)
        if args.command in ("data", "train", "backtest", "sweep"):
            from daemon.research import commands as research

            return research.run(args)
        return cmd_run(args.config)
    except ConfigError as err:
        fail(f"config error: {err}")
        return EXIT_CONFIG
    except StateError as err:
        fail(f"state error: {err}")
        return EXIT_CONFIG
    except JournalError as err:
        # Like a config error, a restart cannot fix it: 78 stops systemd's restart loop.
        fail(f"journal error: {err}")
        return EXIT_CONFIG
    except OSError as err:
        if args.command != "run":
            raise
        if err.errno not in _LISTEN_ERRNOS:
            return _unexpected(err)
        fail(f"config error: control: cannot listen: {os.strerror(err.errno or 0).lower()} "
             f"(control.listen / control.unix)")
        return EXIT_CONFIG
    except Exception as err:
        if args.command != "run":
            raise  # printed, redacted, by the process hook
        return _unexpected(err)


if __name__ == "__main__":
    sys.exit(main())
