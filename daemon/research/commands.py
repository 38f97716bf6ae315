"""The research commands' arguments and entry points: `data fetch`, `data import`, `train`,
`backtest`, `sweep`. Each imports its libraries (pyarrow, torch, plotly, ray) only when run,
so `tradingd run` never loads them. Exit codes: 0 done, 3 a backtest halted by a breaker,
65 bad data, 69 the venue could not be reached, 78 a bad config or grid."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_HALTED, EXIT_DATA, EXIT_UNAVAILABLE, EXIT_CONFIG = 0, 3, 65, 69, 78


def _date_ms(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use 2024-01-31 or "
                                         "2024-01-31T12:00)") from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def add_parsers(sub: Any) -> None:
    data = sub.add_parser("data", help="fetch or import market data into Parquet datasets")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="VERB")
    fetch = verbs.add_parser("fetch", help="candles (or --trades) from a venue through ccxt")
    fetch.add_argument("--exchange", default="binance", help="ccxt exchange id")
    fetch.add_argument("--symbol", required=True, help="ccxt symbol, e.g. BTC/USDT")
    fetch.add_argument("--timeframe", default="1h", help="candle interval, e.g. 1m 1h 12h")
    fetch.add_argument("--trades", action="store_true", help="public trades, not candles")
    fetch.add_argument("--since", required=True, type=_date_ms, help="UTC date to start at")
    fetch.add_argument("--until", type=_date_ms, help="UTC date to stop before (default: now)")
    fetch.add_argument("--out", required=True, type=Path, help="datasets directory")
    fetch.add_argument("--config", type=Path,
                       help="build the venue client from this config's [exchange] table")
    imp = verbs.add_parser("import", help="a data.binance.vision trades or klines CSV")
    imp.add_argument("--file", required=True, type=Path)
    imp.add_argument("--exchange", default="binance")
    imp.add_argument("--symbol", required=True)
    imp.add_argument("--out", required=True, type=Path, help="datasets directory")
    train = sub.add_parser("train", help="fit the AR model on bars of recorded data")
    train.add_argument("--data", required=True, type=Path, help="CSV or Parquet, as replay")
    train.add_argument("--bar", default="12h", help="bar interval, e.g. 1h or 12h")
    train.add_argument("--lags", type=int, default=3)
    train.add_argument("--horizon", type=int, default=1, help="bars ahead to forecast")
    train.add_argument("--test-size", type=float, default=0.25)
    train.add_argument("--walk-forward", type=int, default=0, metavar="K")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=3000)
    train.add_argument("--out", required=True, type=Path, help="the weights file to write")
    for name, text in (("backtest", "a replay through the daemon, then a report"),
                       ("sweep", "backtests over a grid of strategy parameters")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", required=True, type=Path)
        cmd.add_argument("--data", required=True, type=Path)
        cmd.add_argument("--out", required=True, type=Path, help="the report's directory")
        cmd.add_argument("--risk-free-rate", type=float, default=0.0, help="annual, e.g. 0.04")
    sub.choices["backtest"].add_argument(
        "--start", type=start_arg, metavar="TIME",
        help="trade from this time (ISO 8601, UTC without a zone); the trades before it are "
             "the strategy's warm-up history")
    sweep = sub.choices["sweep"]
    sweep.add_argument("--grid", required=True, type=Path, help="grid.toml")
    sweep.add_argument("--rank-by", default="sharpe")
    sweep.add_argument("--workers", type=int, default=2)
    sweep.add_argument("--ray-address", help="run on this Ray cluster ('local': start one)")


def start_arg(text: str) -> int:
    """`--start` as epoch nanoseconds; argparse reports a bad one (exit 2)."""
    from daemon.venues.replay_history import parse_start

    try:
        return parse_start(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix(f"--start {text!r}: ")) from None


def run(args: argparse.Namespace) -> int:
    from daemon.research import datasets
    from daemon.venues.replay_files import DataFileError

    try:
        if args.command == "data":
            return _data(args)
        if args.command == "train":
            return _train(args)
        if args.command == "backtest":
            return _backtest(args)
        return _sweep(args)
    except (datasets.DatasetError, DataFileError) as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return EXIT_DATA


def _data(args: argparse.Namespace) -> int:
    from daemon.research import datasets, imports

    if args.data_command == "import":
        path, rows, gaps = imports.import_csv(args.file, args.out, args.exchange, args.symbol)
        print(f"{rows:,} rows -> {path}; {len(gaps)} gap(s)", file=sys.stderr)
        return EXIT_OK
    return asyncio.run(_fetch(args, datasets))


async def _fetch(args: argparse.Namespace, datasets: Any) -> int:
    from daemon import config as config_mod
    from daemon.config import ExchangeConfig
    from daemon.research import fetch
    from daemon.venues.ccxt.client import make_exchange

    cfg = config_mod.load(args.config).exchange if args.config else ExchangeConfig(
        id=args.exchange)
    exchange = make_exchange(cfg, None)
    path = datasets.path_for(args.out, cfg.id, args.symbol,
                             None if args.trades else args.timeframe)
    try:
        if args.trades:
            got = await fetch.trades(exchange, args.symbol, args.since, args.until, path)
        else:
            got = await fetch.candles(exchange, args.symbol, args.timeframe, args.since,
                                      args.until, path)
    except Exception as err:
        from daemon.venues.ccxt.client import ErrorKind, classify

        if classify(err) not in (ErrorKind.AMBIGUOUS, ErrorKind.RATE_LIMIT):
            raise
        print(f"tradingd: {args.symbol}: the venue could not be reached: {err}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await exchange.close()
    print(f"{got.rows_added:,} new rows, {got.rows_total:,} in {got.path}; "
          f"{len(got.gaps)} gap(s)", file=sys.stderr)
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from daemon.research import bars, datasets, loading, train

    interval_s = datasets.TIMEFRAME_MS[args.bar] // 1000
    data = loading.load(args.data)
    built = bars.build(data.ts_ns, data.price, data.size, interval_s)
    fit, scores, (ls_w, ls_b) = train.train(built, args.lags, args.horizon, args.test_size,
                                            args.walk_forward, args.seed, args.epochs)
    train.write(args.out, fit, scores, args.lags, interval_s, args.horizon, built, args.data,
                args.seed)
    print(json.dumps({"weights": args.out.name, "weight": fit.weight, "bias": fit.bias,
                      "least_squares": {"weight": ls_w, "bias": ls_b},
                      "scores": [s.__dict__ for s in scores]}, indent=2))
    return EXIT_OK


def _backtest(args: argparse.Namespace) -> int:
    from daemon import config as config_mod
    from daemon.ops import log
    from daemon.research.runner import backtest_files

    log.configure(config_mod.load(args.config).daemon.log_level)
    figures = backtest_files(args.config, args.data, args.out,
                             risk_free_rate=args.risk_free_rate, start_ns=args.start)
    shown = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "final_equity")
    print(" ".join(f"{k}={figures[k]:.6g}" for k in shown), f"report: {args.out}/report.html",
          file=sys.stderr)
    if figures["halt"]:
        halt = figures["halt"]
        print(f"HALTED at {halt['time']} (data time) by {halt['reason']}: {halt['detail']}; "
              f"the backtest ended there (exit {EXIT_HALTED})", file=sys.stderr)
    return int(figures["exit_code"])


def _sweep(args: argparse.Namespace) -> int:
    from daemon.research import sweep

    try:
        combos = sweep.combinations(args.grid)
    except sweep.GridError as err:
        print(f"tradingd: {err}", file=sys.stderr)
        return EXIT_CONFIG
    tasks = [sweep.Task(args.config, args.data, p, args.out / f"run-{i:03d}")
             for i, p in enumerate(combos)]
    rows = (sweep.run_ray(tasks, "" if args.ray_address == "local" else args.ray_address)
            if args.ray_address else sweep.run_local(tasks, args.workers))
    sweep.write(sweep.rank(rows, args.rank_by), args.out, args.rank_by)
    print(f"{len(rows)} backtests -> {args.out}/results.html", file=sys.stderr)
    return EXIT_OK
