"""The swap liquidation estimate against a bisection of the balance it solves, and the gate's
`min_liquidation_distance` check at its boundary."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.risk.liquidation import MAINT_MARGIN_RATE, distance_pct, liquidation_price


def solve(qty: D, mark: D, backing: D) -> D:
    """Where backing + PnL = maintenance margin, by bisection (no algebra shared)."""
    def surplus(p: D) -> D:
        return backing + qty * (p - mark) - MAINT_MARGIN_RATE * abs(qty) * p
    lo, hi = D(0), 2 * (mark + backing / abs(qty))
    if qty > 0 and surplus(lo) >= 0:
        return D(0)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (surplus(mid) > 0) == (qty > 0):
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


@settings(max_examples=200, deadline=None)
@given(st.decimals("0.001", "50", places=3), st.booleans(), st.decimals("100", "90000", places=2),
       st.decimals("0", "100000", places=2))
def test_liquidation_price_solves_the_maintenance_balance(q: D, long: bool, mark: D,
                                                         backing: D) -> None:
    qty = q if long else -q
    assert abs(liquidation_price(qty, mark, backing) - solve(qty, mark, backing)) < D("0.001")


def test_isolated_distance_is_set_by_the_leverage() -> None:
    mark = D(60000)
    # long at 10x: P = m (1 - 1/10) / (1 - mmr); short: P = m (1 + 1/10) / (1 + mmr)
    assert abs(distance_pct(D("0.5"), mark, 10, True, D(0)) - D("9.5477")) < D("0.001")
    assert abs(distance_pct(D("-0.5"), mark, 10, True, D(0)) - D("9.4527")) < D("0.001")
    assert distance_pct(D("0.5"), mark, 1, True, D(0)) == 100  # fully backed long: never


def test_cross_distance_is_set_by_equity_over_notional() -> None:
    # long 1 at 100 on 20 of equity: P = 80 / 0.995
    assert abs(distance_pct(D(1), D(100), 3, False, D(20)) - (1 - D(80) / D("0.995")
                                                              / 100) * 100) < D("1e-20")
    assert distance_pct(D(1), D(100), 3, False, D(0)) == 0


@pytest.mark.parametrize("qty", [D(0)])
def test_no_position_is_no_liquidation(qty: D) -> None:
    assert distance_pct(qty, D(100), 10, True, D(5)) == 100
