"""`tradingd sweep`: a grid of strategy parameters, each a backtest, run in parallel.

`grid.toml` lists values per `[strategy.params]` key (`scale = ["0.5", "1"]`); every
combination is one backtest of the same data through the daemon's real path, in a process of
its own. One machine: a process pool. Beyond one: the same task function on a Ray cluster
(`--ray-address`; Ray is an optional extra). The result table — the parameters and every figure
of `metrics.json`, ranked by a chosen metric — is written as CSV and as an HTML page.
"""

from __future__ import annotations

import csv
import html
import itertools
import math
import tomllib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

SCALARS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
           "profit_factor", "trades", "fees", "final_equity")


@dataclass(frozen=True)
class Task:
    config: Path
    data: Path
    params: dict[str, Any]
    out: Path


class GridError(Exception):
    pass


def combinations(grid_path: Path) -> list[dict[str, Any]]:
    try:
        grid = tomllib.loads(grid_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise GridError(f"{grid_path}: {err}") from None
    values = grid.get("strategy", {}).get("params", grid)
    if not values or not all(isinstance(v, list) and v for v in values.values()):
        raise GridError(f"{grid_path}: [strategy.params] must give each key a list of values")
    keys = sorted(values)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(values[k] for k in keys))]


def run_one(task: Task) -> dict[str, Any]:
    """One backtest (in a worker process): the config with `params` applied, its figures."""
    from daemon.research.runner import backtest_files  # the daemon loads per worker

    figures = backtest_files(task.config, task.data, task.out, params=task.params,
                             progress=False)
    return {**task.params, **{k: figures.get(k, math.nan) for k in SCALARS}}


def run_local(tasks: list[Task], workers: int) -> list[dict[str, Any]]:
    # spawn: a fresh interpreter per worker (torch and the event loop do not survive fork)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(run_one, tasks))


def run_ray(tasks: list[Task], address: str) -> list[dict[str, Any]]:
    import ray  # the ray extra

    if address:
        ray.init(address=address, log_to_driver=False)
    else:  # a one-machine cluster of our own, on loopback only
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        remote: Any = ray.remote(run_one)
        return list(ray.get([remote.remote(t) for t in tasks]))
    finally:
        ray.shutdown()


def rank(rows: Iterable[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    def key(row: dict[str, Any]) -> float:
        value = row.get(metric, math.nan)
        return -math.inf if value is None or math.isnan(value) else float(value)

    descending = metric != "max_drawdown"  # a smaller drawdown ranks first
    return sorted(rows, key=key, reverse=descending)


def write(rows: list[dict[str, Any]], out: Path, metric: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    header = list(rows[0]) if rows else []
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)
    table = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[h]))}</td>" for h in header)
                    + "</tr>" for r in rows)
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    (out / "results.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>tradingd sweep</title></head>"
        f"<body><h1>tradingd sweep, ranked by {html.escape(metric)}</h1><table id='results'>"
        f"<tr>{heads}</tr>{table}</table></body></html>")
