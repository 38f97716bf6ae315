"""`tradingd train`: bars -> lagged log returns -> the AR model, fitted and scored out of sample.

The features are the live strategy's own: each bar's close goes through
`daemon.features.LogReturnLags`, newest lag first, exactly as `ARForecastStrategy` computes them
on every bar it trades. The target is the log return over the next `horizon` bars. The data is
split in time, never shuffled: the first part trains, the rest scores (`test_size`); or
`walk_forward = K` folds, each trained on everything before its window and scored on it.
The weights file carries what `tradingd run` checks (lags, bar interval) and what a reader needs
to trust it: horizon, the data's window and content hash, losses, the out-of-sample hit rate.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from daemon.features import LogReturnLags
from daemon.model import Bar
from strategies.ar_fit import Fit, fit_linear, least_squares
from strategies.ar_forecast import save_weights

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Score:
    train_loss: float
    test_loss: float
    hit_rate: float  # the share of test bars whose forecast had the sign of what followed
    samples_train: int
    samples_test: int


def dataset(bars: list[Bar], lags: int, horizon: int) -> tuple[Floats, Floats, list[int]]:
    """Rows of lags (newest first) at each bar close, the log return of the next `horizon`
    bars after it, and the end time of the bar each row stands at."""
    feature = LogReturnLags(lags)
    closes = [b.close for b in bars]
    xs: list[list[float]] = []
    ys: list[float] = []
    at: list[int] = []
    for i, bar in enumerate(bars):
        row = feature.on_tick(bar.close)
        if row is None or i + horizon >= len(bars):
            continue
        xs.append(list(row))
        ys.append(math.log(closes[i + horizon] / bar.close))
        at.append(bar.end_ns)
    return np.array(xs, dtype=np.float64).reshape(-1, lags), np.array(ys), at


def score(fit: Fit, x: Floats, y: Floats, train_loss: float, n_train: int) -> Score:
    pred = x @ np.array(fit.weight) + fit.bias
    test_loss = float(np.mean((pred - y) ** 2)) if len(y) else math.nan
    hits = float(np.mean(np.sign(pred) == np.sign(y))) if len(y) else math.nan
    return Score(train_loss, test_loss, hits, n_train, len(y))


def folds(n: int, k: int) -> list[tuple[int, int]]:
    """Walk-forward windows: the data cut in k + 1 equal parts; fold i trains on parts 0..i and
    scores on part i + 1."""
    edges = [round(n * j / (k + 1)) for j in range(k + 2)]
    return [(edges[i + 1], edges[i + 2]) for i in range(k)]


def train(bars: list[Bar], lags: int, horizon: int, test_size: float, walk_forward: int,
          seed: int, epochs: int) -> tuple[Fit, list[Score], tuple[list[float], float]]:
    x, y, _ = dataset(bars, lags, horizon)
    if len(y) < 10 * (lags + 1):
        raise ValueError(f"only {len(y)} samples for {lags} lags: need more bars")
    scores = []
    windows = folds(len(y), walk_forward) if walk_forward else [
        (len(y) - max(1, round(len(y) * test_size)), len(y))]
    for start, end in windows:
        fit = fit_linear(x[:start], y[:start], seed=seed, epochs=epochs)
        scores.append(score(fit, x[start:end], y[start:end], fit.train_loss, start))
    return fit, scores, least_squares(x[:windows[-1][0]], y[:windows[-1][0]])


def content_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(out: Path, fit: Fit, scores: list[Score], lags: int, bar_interval_s: int,
          horizon: int, bars: list[Bar], data: Path, seed: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "horizon": horizon, "seed": seed,
        "data": {"path": data.name, "sha256": content_hash(data),
                 "first_bar_ns": bars[0].start_ns, "last_bar_ns": bars[-1].end_ns},
        "scores": [asdict(s) for s in scores],
        "package_version": metadata.version("tradingd"),
    }
    save_weights(out, [fit.weight], [fit.bias], bar_interval_s, **meta)
    return meta
