"""`tradingd replay`: recorded trades or candles through the daemon's real code path, on paper.

The same `Daemon` as `tradingd run` — tasks, risk gate, inventory, paper broker, metrics — fed
by a `ReplaySource` on a `ReplayClock`, as fast as it goes. The broker is always the paper
account (whatever `daemon.mode` says), the metrics listener takes a free port, and the final
state goes to `<state_dir>/replay/`, so a replay never touches a running daemon's venue, port or
state. Logs go to stdout as usual; a progress bar and a summary go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from daemon import log
from daemon.config import Config, MetricsConfig, resolve_path
from daemon.marketdata.replay import DEFAULT_BATCH_TICKS

if TYPE_CHECKING:  # the daemon (torch, aiohttp) loads only when a replay runs
    from daemon.app import Daemon
    from daemon.marketdata.replay_files import Recorded
    from strategies.base import Strategy

EXIT_DATA = 65  # EX_DATAERR: the data file cannot be replayed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="path to config.toml")
    parser.add_argument("--data", required=True, type=Path,
                        help="CSV of trades (id,price,qty,...,time) or candles "
                             "(open_time_ms,open,high,low,close,volume)")
    parser.add_argument("--symbol", help="instrument the data is for (default: the first one)")
    parser.add_argument("--batch-ticks", type=int, default=DEFAULT_BATCH_TICKS,
                        help=f"trades per batch handed to the daemon (default "
                             f"{DEFAULT_BATCH_TICKS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


class Progress:
    """A progress bar on a terminal; a line every 10% otherwise (CI logs, pipes)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._enabled = enabled
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._shown = 0.0  # when (tty) or at which tenth (pipe) we last drew
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if not self._enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._shown >= 0.1 or done >= self._total:
                self._shown = now
                self._stream.write("\r" + self.line(now))
                self._stream.flush()
        elif (tenth := done * 10 // self._total) > self._shown:
            self._shown = tenth
            self._stream.write(self.line(now) + "\n")
            self._stream.flush()

    def line(self, now: float) -> str:
        frac = min(1.0, self.done / self._total)
        bar = "#" * int(frac * 30)
        rate = self.done / max(now - self._started, 1e-9)
        return (f"replay [{bar:<30}] {frac:4.0%} {self.done:,}/{self._total:,} ticks "
                f"{rate / 1000:,.0f}k ticks/s")

    def close(self) -> None:
        if self._enabled and self._tty:
            self._stream.write("\n")


def replay_config(cfg: Config) -> Config:
    """The replay's own port and state directory: never a running daemon's."""
    state_dir = str(resolve_path(cfg, cfg.daemon.state_dir) / "replay")
    return msgspec.structs.replace(
        cfg, daemon=msgspec.structs.replace(cfg.daemon, state_dir=state_dir),
        metrics=MetricsConfig(listen="127.0.0.1:0"))


def run(args: argparse.Namespace) -> int:
    from daemon.cli import load_all
    from daemon.marketdata import replay_files

    cfg, strategy = load_all(args.config)
    cfg = replay_config(cfg)
    try:
        data = replay_files.load(args.data)
    except replay_files.DataFileError as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return EXIT_DATA
    symbol = args.symbol or cfg.market.instruments[0].symbol
    if symbol not in {i.symbol for i in cfg.market.instruments}:
        print(f"tradingd: --symbol {symbol} is not a configured instrument", file=sys.stderr)
        return EXIT_DATA
    log.configure(os.environ.get("LOG_LEVEL", cfg.daemon.log_level))
    progress = Progress(data.ticks, sys.stderr, enabled=not args.no_progress)
    print(f"replaying {data.rows:,} {data.kind} ({data.ticks:,} ticks) of {symbol} "
          f"from {args.data}", file=sys.stderr)
    started = time.perf_counter()
    daemon, code = _run_daemon(cfg, strategy, symbol, data, args.batch_ticks, progress)
    progress.close()
    _summary(daemon, progress.done, time.perf_counter() - started, sys.stderr)
    return code


def _run_daemon(cfg: Config, strategy: Strategy[Any], symbol: str, data: Recorded,
                batch_ticks: int, progress: Progress) -> tuple[Daemon, int]:
    import uvloop

    from daemon.app import Daemon, instruments_from_config
    from daemon.broker.paper import PaperBroker
    from daemon.clock import ReplayClock
    from daemon.marketdata.replay import ReplaySource

    clock = ReplayClock()
    source = ReplaySource(symbol, [(data.ts_ns, data.price, data.size)], clock, batch_ticks,
                          progress.update)
    paper = cfg.paper
    broker = PaperBroker(instruments_from_config(cfg), paper.starting_cash, paper.fee_bps,
                         paper.slippage_bps, clock)
    daemon = Daemon(cfg, strategy, clock=clock, source=source, broker=broker)
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
