"""Performance figures of an equity series, with empyrical's conventions.

Returns are per-bar simple returns of the equity series, `r_t = E_t / E_{t-1} - 1`.
`periods_per_year` comes from the bar interval on a 365-day year (crypto trades every day):
`365 * 86400 / bar_interval_s`. Standard deviations are sample ones (ddof 1). With `rf` the
annual risk-free rate:

- `sharpe = (mean(r) - rf / ppy) / std(r) * sqrt(ppy)`
- `sortino = mean(r - rf / ppy) * ppy / downside`, `downside = sqrt(mean(min(r - rf / ppy,
  0)^2)) * sqrt(ppy)` (empyrical's downside risk: the mean over all bars, not only losing ones)
- `cagr = (E_end / E_0) ^ (ppy / n) - 1` over the `n` returns; `calmar = cagr / max_drawdown`
- `max_drawdown`: the largest fall from the running peak, a positive fraction (0.187 = 18.7%),
  and its duration: the longest time from a peak until equity is back at it (or the end).

Floats: these are statistics of a series, not accounting (the equity itself comes from exact
`Decimal` books). `tests/unit/test_research_metrics.py` checks every figure against empyrical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

YEAR_S = 365 * 86_400

Floats = npt.NDArray[np.float64]


def periods_per_year(bar_interval_s: float) -> float:
    return YEAR_S / bar_interval_s


def returns(equity: Sequence[float] | Floats) -> Floats:
    e = np.asarray(equity, dtype=np.float64)
    return e[1:] / e[:-1] - 1.0


def sharpe(r: Floats, ppy: float, rf: float = 0.0) -> float:
    excess = r - rf / ppy
    std = float(np.std(excess, ddof=1)) if len(r) > 1 else 0.0
    return float(np.mean(excess)) / std * math.sqrt(ppy) if std > 0 else math.nan


def sortino(r: Floats, ppy: float, rf: float = 0.0) -> float:
    excess = r - rf / ppy
    downside = math.sqrt(float(np.mean(np.square(np.minimum(excess, 0.0))))) * math.sqrt(ppy)
    return float(np.mean(excess)) * ppy / downside if downside > 0 else math.nan


def volatility(r: Floats, ppy: float) -> float:
    return float(np.std(r, ddof=1)) * math.sqrt(ppy) if len(r) > 1 else math.nan


def cagr(r: Floats, ppy: float) -> float:
    if not len(r):
        return math.nan
    growth = float(np.prod(1.0 + r))
    if growth <= 0:
        return -1.0
    exponent = math.log(growth) * ppy / len(r)
    return math.expm1(exponent) if exponent < 700 else math.inf  # a minute's gain, annualised


def max_drawdown(equity: Sequence[float] | Floats) -> float:
    e = np.asarray(equity, dtype=np.float64)
    if not len(e):
        return 0.0
    peak = np.maximum.accumulate(e)
    return float(np.max((peak - e) / peak))


def max_drawdown_duration(times_s: Sequence[float] | Floats,
                          equity: Sequence[float] | Floats) -> float:
    """The longest stretch, in seconds, from a peak until equity first regains it (or the
    series ends below it)."""
    longest, peak, peak_t, below = 0.0, -math.inf, 0.0, False
    for ti, ei in zip(np.asarray(times_s, dtype=np.float64),
                      np.asarray(equity, dtype=np.float64), strict=True):
        if ei >= peak:
            if below:  # back at the peak: that drawdown is over
                longest = max(longest, float(ti) - peak_t)
                below = False
            peak, peak_t = float(ei), float(ti)
        else:
            below = True
            last_t = float(ti)
    if below:
        longest = max(longest, last_t - peak_t)
    return longest


def summary(times_s: Sequence[float] | Floats, equity: Sequence[float] | Floats,
            bar_interval_s: float, rf: float = 0.0) -> dict[str, float]:
    """The return and risk figures of one equity series (the strategy's, or buy-and-hold's)."""
    ppy = periods_per_year(bar_interval_s)
    r = returns(equity)
    e = np.asarray(equity, dtype=np.float64)
    growth = cagr(r, ppy)
    dd = max_drawdown(e)
    return {
        "total_return": float(e[-1] / e[0] - 1.0) if len(e) else math.nan,
        "cagr": growth,
        "volatility": volatility(r, ppy),
        "sharpe": sharpe(r, ppy, rf),
        "sortino": sortino(r, ppy, rf),
        "calmar": growth / dd if dd > 0 else math.nan,
        "max_drawdown": dd,
        "max_drawdown_duration_s": max_drawdown_duration(times_s, e),
    }
