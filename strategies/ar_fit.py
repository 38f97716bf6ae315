"""Fitting the AR model: `torch.nn.Linear(lags, 1)` by Adam on mean squared error, seeded and
deterministic, as the seed research notebook did — and, beside it, the closed-form least-squares
solution the fit must approach (a check that the optimiser converged, not a second model).

torch stays in `strategies/`; `tradingd train` (daemon.research.train) calls this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Fit:
    weight: list[float]
    bias: float
    train_loss: float


def fit_linear(x: Floats, y: Floats, seed: int = 0, epochs: int = 3000,
               lr: float = 0.01) -> Fit:
    """Adam on MSE over the whole training set at every step (full batch: deterministic).
    Inference mode is off for all of it, the model's creation included: a process that has
    run the AR strategy has it on for its thread, and parameters made under it cannot learn."""
    with torch.inference_mode(False):
        torch.manual_seed(seed)
        model = torch.nn.Linear(x.shape[1], 1, dtype=torch.float64)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).reshape(-1, 1)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = torch.nn.MSELoss()
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(model(xt), yt)
            loss.backward()
            opt.step()
        final = float(loss_fn(model(xt), yt).detach())
    return Fit([float(w) for w in model.weight.detach()[0]], float(model.bias.detach()[0]),
               final)


def least_squares(x: Floats, y: Floats) -> tuple[list[float], float]:
    """The exact minimiser of the same loss: weights and intercept."""
    design = np.hstack([x, np.ones((len(x), 1))])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return [float(c) for c in coef[:-1]], float(coef[-1])
