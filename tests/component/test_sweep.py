"""A sweep runs every combination of its grid as a backtest of its own, in worker processes,
and each row equals the same backtest run alone."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from daemon.research import sweep
from daemon.research.runner import backtest_files

ROOT = Path(__file__).resolve().parents[2]
CANDLES = ROOT / "tests" / "data" / "replay" / "binance_spot_BTCUSDT_1h_1000.csv"


def config(tmp: Path) -> Path:
    text = (ROOT / "examples" / "replay_ar_12h.toml").read_text()
    path = tmp / "c.toml"
    path.write_text(text.replace("bar_interval_s = 43200", "bar_interval_s = 3600\n"
                                 "allow_interval_mismatch = true"))
    return path


def test_a_two_by_two_grid_in_two_processes_equals_each_run_alone(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[strategy.params]\nscale = ["0.5", "0.9"]\nlags = [3]\n'
                    'bar_interval_s = [3600, 7200]\n')
    combos = sweep.combinations(grid)
    assert len(combos) == 4
    tasks = [sweep.Task(config(tmp_path), CANDLES, p, tmp_path / f"run{i}")
             for i, p in enumerate(combos)]
    rows = sweep.rank(sweep.run_local(tasks, workers=2), "sharpe")
    sweep.write(rows, tmp_path / "out", "sharpe")
    sharpes = [r["sharpe"] for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)
    alone = backtest_files(config(tmp_path), CANDLES, tmp_path / "alone",
                           params=combos[0], progress=False)
    row = next(r for r in rows if all(r[k] == v for k, v in combos[0].items()))
    assert all(row[k] == alone[k] or (math.isnan(row[k]) and math.isnan(alone[k]))
               for k in sweep.SCALARS)
    with (tmp_path / "out" / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 4
    assert "<table id='results'>" in (tmp_path / "out" / "results.html").read_text()


def test_a_grid_without_lists_is_refused(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[strategy.params]\nscale = "0.5"\n')
    with pytest.raises(sweep.GridError, match="list of values"):
        sweep.combinations(grid)


def test_the_same_tasks_on_a_ray_cluster_give_the_same_rows(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Ray's own one-machine cluster on loopback (what `--ray-address` would name remotely)."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    combos = [{"scale": "0.5"}, {"scale": "0.9"}]
    tasks = [sweep.Task(config(tmp_path), CANDLES, p, tmp_path / f"run{i}")
             for i, p in enumerate(combos)]
    on_ray = sweep.run_ray(tasks, "")
    local = sweep.run_local(tasks, workers=1)
    assert [r["final_equity"] for r in on_ray] == [r["final_equity"] for r in local]
    assert on_ray[0]["final_equity"] != on_ray[1]["final_equity"]
