"""`tradingd replay`: recorded trades or candles through the daemon's real code path, on paper.

The same `Daemon` as `tradingd run` — tasks, risk gate, inventory, paper broker, metrics — fed
by a `ReplaySource` on a `ReplayClock`, as fast as it goes. The broker is always the paper
account (whatever `daemon.mode` says), the metrics listener takes a free port, and the state
(halt latch, final state) goes to a fresh temporary directory unless `--state-dir` names one, so
a replay never touches a running daemon's venue, port or state, and nothing one replay latched
carries into the next. Logs go to stdout as usual; a progress bar and a summary go to stderr.
A replay that a circuit breaker halted says which, when and why, and exits 3. With `--start`, only
the trades from then on are replayed; those before it are the strategy's warm-up history
(`daemon.venues.replay_history`), so its first bar after the start can already decide.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from daemon.config import Config, MetricsConfig
from daemon.exitcodes import ExitCode
from daemon.ops import log
from daemon.venues.replay import DEFAULT_BATCH_TICKS

if TYPE_CHECKING:  # the daemon (torch, aiohttp) loads only when a replay runs
    from daemon.app import Daemon
    from daemon.venues.base import HistorySource
    from daemon.venues.replay_files import Recorded
    from strategies.base import Strategy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="path to config.toml")
    parser.add_argument("--data", required=True, type=Path,
                        help="CSV of trades (id,price,qty,...,time) or candles "
                             "(open_time_ms,open,high,low,close,volume)")
    parser.add_argument("--symbol", help="instrument the data is for (default: the first one)")
    parser.add_argument("--batch-ticks", type=int, default=DEFAULT_BATCH_TICKS,
                        help=f"trades per batch handed to the daemon (default "
                             f"{DEFAULT_BATCH_TICKS})")
    parser.add_argument("--start", type=start_arg, metavar="TIME",
                        help="trade from this time (ISO 8601, e.g. 2024-01-02T00:00Z; UTC "
                             "without a zone); the trades before it are the strategy's warm-up "
                             "history")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--state-dir", type=Path,
                        help="keep the replay's state (final_state.json, risk_state.json) here; "
                             "default: a fresh temporary directory, removed afterwards")


def start_arg(text: str) -> int:
    """`--start` as epoch nanoseconds; argparse reports a bad one (exit 2)."""
    from daemon.venues.replay_history import parse_start

    try:
        return parse_start(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix(f"--start {text!r}: ")) from None


def split_start(data: Recorded, symbol: str, start_ns: int | None
                ) -> tuple[tuple[Any, Any, Any], HistorySource | None]:
    """The columns to replay and, with a start, the history before it; `DataFileError` if no
    trade is at or after the start."""
    from daemon.venues.replay_files import DataFileError
    from daemon.venues.replay_history import split_at

    if start_ns is None:
        return (data.ts_ns, data.price, data.size), None
    live, history = split_at(symbol, data.ts_ns, data.price, data.size, start_ns)
    if not len(live[0]):
        last = datetime.fromtimestamp(int(data.ts_ns[-1]) / 1e9, UTC).isoformat()
        raise DataFileError(f"--start is after the data's last trade ({last})")
    return live, history


class Progress:
    """tqdm's bar on a terminal; on a pipe (CI logs), tqdm's line once every 10%, not a stream
    of carriage returns."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        from tqdm import tqdm

        self._total = max(total, 1)
        self._stream = stream
        self._enabled = enabled
        self._bar = tqdm(total=total, file=stream, unit="tick", unit_scale=True, desc="replay",
                         disable=not (enabled and stream.isatty()), mininterval=0.1)
        self._format = tqdm.format_meter
        self._started = time.monotonic()
        self._tenth = 0
        self.done = 0

    def update(self, done: int) -> None:
        self._bar.update(done - self.done)
        self.done = done
        if not self._enabled or not self._bar.disable:
            return
        if (tenth := done * 10 // self._total) > self._tenth:
            self._tenth = tenth
            self._stream.write(self._format(done, self._total, time.monotonic() - self._started,
                                            unit="tick", unit_scale=True, prefix="replay")
                               + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._bar.close()


def replay_config(cfg: Config, state_dir: Path) -> Config:
    """The replay's own port and state directory: never a running daemon's."""
    return msgspec.structs.replace(
        cfg, daemon=msgspec.structs.replace(cfg.daemon, state_dir=str(state_dir.resolve())),
        metrics=MetricsConfig(listen="127.0.0.1:0"))


# Marks a state directory as a replay's own: its state files may be cleared by the next replay.
MARKER = ".tradingd-replay"
STATE_FILES = ("risk_state.json", "final_state.json")


def main(args: argparse.Namespace, fail: Any) -> int:
    if args.state_dir is None:
        with tempfile.TemporaryDirectory(prefix="tradingd-replay-") as tmp:
            return _run(args, Path(tmp))
    try:
        fresh_state_dir(args.state_dir)
    except StateDirError as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return ExitCode.CONFIG
    return _run(args, args.state_dir)


class StateDirError(Exception):
    pass


def fresh_state_dir(path: Path) -> None:
    """Make `path` a replay state directory with nothing latched in it. A directory an earlier
    replay made is cleared of its state; one that holds any other daemon's state is refused,
    never touched (it may be a running daemon's)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        marked = (path / MARKER).exists()
        foreign = [p.name for p in sorted(path.iterdir())
                   if p.name != MARKER and (not marked or p.name not in STATE_FILES)]
        if foreign:
            raise StateDirError(f"--state-dir {path}: holds {', '.join(foreign)}; a replay "
                                "starts from a fresh state: name a new or empty directory")
        for name in STATE_FILES:
            (path / name).unlink(missing_ok=True)
        (path / MARKER).touch()
    except OSError as err:
        raise StateDirError(f"--state-dir {path}: {err.strerror}") from None


def _run(args: argparse.Namespace, state_dir: Path) -> int:
    from daemon import wiring
    from daemon.research import loading  # CSV, or a `tradingd data` Parquet dataset
    from daemon.venues.replay_files import DataFileError

    cfg, strategy = wiring.load(args.config)
    cfg = replay_config(cfg, state_dir)
    try:
        data = loading.load(args.data)
    except DataFileError as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return ExitCode.DATA
    symbol = args.symbol or cfg.market.instruments[0].symbol
    if symbol not in {i.symbol for i in cfg.market.instruments}:
        print(f"tradingd: --symbol {symbol} is not a configured instrument", file=sys.stderr)
        return ExitCode.DATA
    try:
        columns, history = split_start(data, symbol, args.start)
    except DataFileError as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return ExitCode.DATA
    log.configure(os.environ.get("LOG_LEVEL", cfg.daemon.log_level))
    ticks = len(columns[0])
    progress = Progress(ticks, sys.stderr, enabled=not args.no_progress)
    since = "" if history is None else f", the {data.ticks - ticks:,} before it the warm-up's"
    print(f"replaying {data.rows:,} {data.kind} ({ticks:,} ticks{since}) of {symbol} "
          f"from {args.data}", file=sys.stderr)
    started = time.perf_counter()
    daemon, code = _run_daemon(cfg, strategy, symbol, columns, history, args.batch_ticks,
                               progress)
    progress.close()
    _summary(daemon, progress.done, time.perf_counter() - started, sys.stderr)
    if code == 0 and daemon.supervisor.latched:
        return ExitCode.HALTED
    return code


def _run_daemon(cfg: Config, strategy: Strategy[Any], symbol: str, columns: tuple[Any, Any, Any],
                history: HistorySource | None, batch_ticks: int, progress: Progress
                ) -> tuple[Daemon, int]:
    import uvloop

    from daemon import wiring
    from daemon.app import Daemon
    from daemon.clock import ReplayClock
    from daemon.venues.replay import ReplaySource

    clock = ReplayClock()
    source = ReplaySource(symbol, [columns], clock, batch_ticks, progress.update)
    # Always the paper account, whatever daemon.mode says; an in-memory journal.
    daemon = Daemon(wiring.build(cfg, strategy, wiring.paper_venue(cfg, strategy, clock, source,
                                                                   history)))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return daemon, runner.run(daemon.run())


def _summary(daemon: Daemon, ticks: int, seconds: float, out: TextIO) -> None:
    inv = daemon.inventory
    submitted = daemon.metrics.registry.get_sample_value(
        "tradingd_orders_total", {"outcome": "submitted"}) or 0
    print(f"replayed {ticks:,} ticks in {seconds:.2f}s ({ticks / max(seconds, 1e-9):,.0f}/s): "
          f"{daemon.signals.bars_closed:,} bars, {int(submitted):,} orders, "
          f"{inv.fill_count:,} fills; realized PnL {inv.realized_pnl:.4f}, fees {inv.fees:.4f}, "
          f"equity {inv.equity():.4f}, flat {inv.is_flat()}", file=out)
    from daemon.model import Side
    from daemon.venues.paper import PaperBroker

    margin = daemon.broker.margin if isinstance(daemon.broker, PaperBroker) else None
    if margin is not None:
        print(f"funding {inv.funding:.4f} ({len(margin.funding)} settlements); "
              f"{len(margin.liquidations)} liquidations", file=out)
        for x in margin.liquidations:
            when = datetime.fromtimestamp(x.ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
            print(f"LIQUIDATED {x.symbol} at {when} UTC (data time): {x.qty} "
                  f"{'long' if x.side is Side.SELL else 'short'} closed at {x.fill_price} "
                  f"(liquidation price {x.liquidation_price}, trade {x.trigger_price}); "
                  f"loss {x.loss:.4f}", file=out)
    latch = daemon.supervisor.latch
    if latch.halted:
        when = datetime.fromtimestamp(latch.halted_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"HALTED at {when} UTC (data time) by {latch.halt_reason}: {latch.halt_detail}; "
              f"the replay ended there (exit {int(ExitCode.HALTED)})", file=out)
