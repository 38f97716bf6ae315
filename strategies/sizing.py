"""Position sizing: pure functions from what the books and the market say to a quantity.

- compounding: the whole equity (times a scale) at the price — the seed AR strategy's;
- fractional Kelly with a cap: the fraction of equity `f = k * mu / sigma^2`, at most `cap`
  (for returns with mean `mu` and variance `sigma^2` per period; `k` = 0.5 is "half Kelly");
- volatility targeting: a position whose volatility is `target_vol` of equity, i.e. a fraction
  `target_vol / realised_vol` of equity, at most `max_fraction`.

Each returns a base quantity (or an equity fraction), never negative; the caller rounds it to the
instrument's grid (`Instrument.floor_qty`) and picks the side.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


def compounding(equity: Decimal, price: Decimal, scale: Decimal = Decimal(1)) -> Decimal:
    """`equity / price * scale`; nothing when equity or price is not positive."""
    if equity <= 0 or price <= 0:
        return ZERO
    return equity / price * scale


def kelly_fraction(mu: float, sigma: float, k: float = 0.5, cap: float = 1.0) -> float:
    """The fractional-Kelly share of equity, in [0, cap]: a negative edge, or no variance, gives
    nothing (this sizes the bet; the signal picks the side)."""
    if sigma <= 0 or mu <= 0:
        return 0.0
    return min(cap, k * mu / (sigma * sigma))


def vol_target_fraction(target_vol: float, realised_vol: float,
                        max_fraction: float = 1.0) -> float:
    """The share of equity whose volatility is `target_vol` given the instrument's
    `realised_vol` (both per the same period), at most `max_fraction`."""
    if realised_vol <= 0 or target_vol <= 0:
        return 0.0
    return min(max_fraction, target_vol / realised_vol)


def quantity(equity: Decimal, price: Decimal, fraction: float) -> Decimal:
    """Base quantity for `fraction` of equity at `price` (exact up to the float fraction)."""
    if fraction <= 0:
        return ZERO
    return compounding(equity, price, Decimal(repr(fraction)))
