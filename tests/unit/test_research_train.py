"""`train` recovers a known AR(3) process, agrees with the closed-form least squares, uses the
live strategy's features, and is byte-for-byte deterministic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from daemon.features import LogReturnLags
from daemon.model import Bar
from daemon.research import train
from strategies.ar_fit import fit_linear
from strategies.ar_forecast import load_model

TRUE_W, TRUE_B = [-0.3, 0.2, 0.1], 0.0005
HOUR_NS = 3_600_000_000_000


def synthetic_bars(n: int, seed: int = 7) -> list[Bar]:
    """Closes whose log returns follow r_t = b + w . (r_{t-1}, r_{t-2}, r_{t-3}) + noise."""
    rng = np.random.default_rng(seed)
    r = [0.0, 0.0, 0.0]
    for _ in range(n):
        r.append(TRUE_B + sum(w * r[-1 - k] for k, w in enumerate(TRUE_W))
                 + rng.normal(0, 0.01))
    closes = 30_000 * np.exp(np.cumsum(r))
    return [Bar("BTC/USDT", i * HOUR_NS, (i + 1) * HOUR_NS, c, c, c, c, 1.0, 1)
            for i, c in enumerate(closes)]


def test_train_recovers_known_coefficients_and_matches_least_squares() -> None:
    fit, scores, (ls_w, ls_b) = train.train(synthetic_bars(20_000), 3, 1, 0.25, 0, 1, 1500)
    assert np.allclose(fit.weight, TRUE_W, atol=0.02), fit.weight
    assert abs(fit.bias - TRUE_B) < 3e-4
    assert np.allclose(fit.weight, ls_w, atol=2e-3) and abs(fit.bias - ls_b) < 1e-4
    (s,) = scores
    assert s.samples_test == pytest.approx(0.25 * (s.samples_train + s.samples_test), abs=1)
    assert s.hit_rate > 0.55  # the process is predictable: better than a coin out of sample


def test_features_are_the_live_strategys_lags_newest_first() -> None:
    bars = synthetic_bars(50)
    x, y, at = train.dataset(bars, 3, 1)
    live = LogReturnLags(3)
    rows = [row for b in bars if (row := live.on_tick(b.close)) is not None]
    assert np.array_equal(x, np.array(rows[:len(x)]))
    assert x[0][0] == pytest.approx(math.log(bars[3].close / bars[2].close))  # newest first
    assert y[0] == pytest.approx(math.log(bars[4].close / bars[3].close))
    assert at[0] == bars[3].end_ns


def test_walk_forward_scores_every_fold_on_data_after_its_training() -> None:
    _, scores, _ = train.train(synthetic_bars(4000), 3, 1, 0.0, 4, 1, 300)
    assert len(scores) == 4
    assert [s.samples_train for s in scores] == sorted(s.samples_train for s in scores)
    assert all(s.samples_test > 0 for s in scores)


def test_same_data_and_seed_give_byte_identical_weights_the_strategy_loads(
        tmp_path: Path) -> None:
    bars = synthetic_bars(3000)
    data = tmp_path / "data.csv"
    data.write_text("stand-in for the data file: its hash goes into the metadata\n")
    paths = []
    for run in ("first", "second"):  # the same file name: torch.save records it inside
        (tmp_path / run).mkdir()
        fit, scores, _ = train.train(bars, 3, 1, 0.25, 0, 3, 300)
        train.write(tmp_path / run / "model.pt", fit, scores, 3, 3600, 1, bars, data, 3)
        paths.append(tmp_path / run / "model.pt")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    model = load_model(paths[0], 3, 3600, allow_interval_mismatch=False)
    with torch.inference_mode():
        assert model(torch.zeros(1, 3)).item() == pytest.approx(fit.bias, rel=1e-6)


def test_training_works_in_a_thread_the_ar_strategy_left_in_inference_mode() -> None:
    """The AR strategy switches inference mode on for its thread and leaves it on: a training
    in the same process after a replay must still learn (it once raised in backward)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([0.5, -0.2, 0.1]) + 0.01
    with torch.inference_mode():
        fit = fit_linear(x, y, epochs=300)
    assert fit.weight == pytest.approx([0.5, -0.2, 0.1], abs=1e-4)
