"""The two-state hedge-ratio filter against pykalman's `filter_update`, and its convergence to a
known hedge ratio on a cointegrated pair."""

from __future__ import annotations

import numpy as np
import pytest
from pykalman import KalmanFilter

from strategies.kalman import HedgeRatio


def test_each_step_equals_pykalman() -> None:
    rng = np.random.default_rng(3)
    x = 100 + np.cumsum(rng.normal(0, 1, 300))
    y = 5 + 1.7 * x + rng.normal(0, 0.5, 300)
    delta, obs = 1e-4, 0.25
    ours = HedgeRatio(delta=delta, obs_var=obs)
    kf = KalmanFilter(transition_matrices=np.eye(2),
                      transition_covariance=delta / (1 - delta) * np.eye(2),
                      observation_covariance=obs)
    mean, cov = np.zeros(2), np.eye(2)
    for xi, yi in zip(x, y, strict=True):
        ours.update(float(xi), float(yi))
        mean, cov = kf.filter_update(mean, cov, observation=yi,
                                     observation_matrix=np.array([[1.0, xi]]))
        assert ours.alpha == pytest.approx(mean[0], rel=1e-9, abs=1e-9)
        assert ours.beta == pytest.approx(mean[1], rel=1e-9, abs=1e-9)


def test_converges_to_the_true_hedge_ratio_and_the_spread_is_standardised() -> None:
    rng = np.random.default_rng(11)
    x = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, 5000)))
    y = 0.05 * x + 40 + rng.normal(0, 2.0, 5000)  # ETH ~ 0.05 x BTC + 40
    # delta scaled to the price level: x^2 q is the share of the spread variance the state adds
    f = HedgeRatio(delta=1e-10, obs_var=4.0, beta0=0.0)
    z = [(s.spread / s.std) for s in (f.update(float(a), float(b)) for a, b in zip(x, y,
                                                                                 strict=True))]
    assert f.beta == pytest.approx(0.05, rel=0.05)
    assert 0.7 < float(np.std(z[1000:])) < 1.3  # innovations over their predicted std
