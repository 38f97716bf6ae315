"""An online hedge ratio: a two-state Kalman filter on `y = alpha + beta * x + noise`.

The state `(alpha, beta)` follows a random walk with covariance `delta / (1 - delta) * I` per
step (small `delta`: slowly varying; the usual pairs-trading parametrisation); each observation
`y` of the dependent leg at the independent leg's `x` has variance `obs_var`. `update` returns
the spread `y - (alpha + beta * x)` before the update and its predicted standard deviation, the
pieces of the z-score a pairs strategy trades on. Floats: these are features, not accounting.
`tests/unit/test_kalman.py` checks it against pykalman's filter step by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Innovation:
    spread: float  # y minus the prediction from the state before this observation
    std: float  # the prediction's standard deviation: spread / std is the z-score


class HedgeRatio:
    __slots__ = ("_obs_var", "_p", "_q", "alpha", "beta")

    def __init__(self, delta: float = 1e-4, obs_var: float = 1e-3, alpha0: float = 0.0,
                 beta0: float = 0.0, p0: float = 1.0) -> None:
        if not 0 < delta < 1 or obs_var <= 0 or p0 <= 0:
            raise ValueError("delta must be in (0, 1); obs_var and p0 positive")
        self._q = delta / (1 - delta)
        self._obs_var = obs_var
        self.alpha, self.beta = alpha0, beta0
        self._p = [[p0, 0.0], [0.0, p0]]  # state covariance

    def update(self, x: float, y: float) -> Innovation:
        q, p = self._q, self._p
        # predict: the state is a random walk
        p00, p01, p10, p11 = p[0][0] + q, p[0][1], p[1][0], p[1][1] + q
        # observe y = [1, x] . state
        spread = y - (self.alpha + self.beta * x)
        # At least the observation's own variance, as it is exactly: the covariance update
        # below can lose a little positive-definiteness in floats, and a huge prior `p0` then
        # cancels to a negative variance (and a sqrt that raises, on the strategy's path).
        s = max(p00 + x * (p01 + p10) + x * x * p11 + self._obs_var, self._obs_var)
        k0, k1 = (p00 + p01 * x) / s, (p10 + p11 * x) / s
        self.alpha += k0 * spread
        self.beta += k1 * spread
        # P = (I - K H) P, with H = [1, x]
        self._p = [[p00 - k0 * (p00 + x * p10), p01 - k0 * (p01 + x * p11)],
                   [p10 - k1 * (p00 + x * p10), p11 - k1 * (p01 + x * p11)]]
        return Innovation(spread, math.sqrt(s))
