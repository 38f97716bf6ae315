"""Sizing helpers against hand-computed figures."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from strategies import sizing


def test_compounding_is_equity_over_price_times_scale() -> None:
    assert sizing.compounding(D(10_000), D(50_000)) == D("0.2")
    assert sizing.compounding(D(10_000), D(50_000), D("0.5")) == D("0.1")
    assert sizing.compounding(D(-1), D(50_000)) == 0 and sizing.compounding(D(1), D(0)) == 0


def test_kelly_is_k_mu_over_variance_capped() -> None:
    # mu 0.1%, sigma 2%: full Kelly 0.001 / 0.0004 = 2.5; half Kelly 1.25; capped at 1
    assert sizing.kelly_fraction(0.001, 0.02, k=1.0, cap=10) == pytest.approx(2.5)
    assert sizing.kelly_fraction(0.001, 0.02, k=0.5, cap=10) == pytest.approx(1.25)
    assert sizing.kelly_fraction(0.001, 0.02, k=0.5, cap=1.0) == 1.0
    assert sizing.kelly_fraction(-0.001, 0.02) == 0.0 and sizing.kelly_fraction(0.1, 0) == 0.0


def test_vol_target_scales_by_the_ratio_of_vols() -> None:
    # target 20% a year, the instrument 80%: a quarter of equity
    assert sizing.vol_target_fraction(0.2, 0.8) == pytest.approx(0.25)
    assert sizing.vol_target_fraction(0.5, 0.25, max_fraction=1.5) == 1.5  # 2x, capped
    assert sizing.vol_target_fraction(0.2, 0.0) == 0.0


def test_quantity_is_the_fraction_of_equity_at_the_price() -> None:
    assert sizing.quantity(D(10_000), D(40_000), 0.25) == D("0.0625")
    assert sizing.quantity(D(10_000), D(40_000), 0.0) == 0
