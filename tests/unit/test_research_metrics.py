"""The report's figures against an independent implementation (empyrical-reloaded) on the same
equity series, and round trips against hand-computed cases."""

from __future__ import annotations

import math
from decimal import Decimal as D

import empyrical
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daemon.model import Fill, Side
from daemon.research import metrics
from daemon.research.trades import equity_per_bar, round_trips

HOUR_S = 3600


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# Bar returns of a real series: zero, or at least a hundredth of a basis point either way (at
# 1e-15 both implementations only measure their own rounding).
RETURN = st.one_of(st.just(0.0), st.floats(1e-6, 0.25), st.floats(-0.2, -1e-6))


@settings(max_examples=200)
@given(st.lists(RETURN, min_size=3, max_size=400),
       st.sampled_from((60, HOUR_S, 12 * HOUR_S, 86_400)), st.sampled_from((0.0, 0.04)))
@example([0.0, 1e-6, -1e-6], HOUR_S, 0.0)  # found by CI: the total return cancels to ~1e-12
def test_figures_equal_empyrical_on_the_same_returns(rets: list[float], bar_s: int,
                                                     rf: float) -> None:
    equity = 1000.0 * np.concatenate([[1.0], np.cumprod(1.0 + np.array(rets))])
    r = equity[1:] / equity[:-1] - 1.0  # the series the report has: the equity's own returns
    if np.std(r, ddof=1) == 0:
        return
    ppy = metrics.periods_per_year(bar_s)
    got = metrics.summary(np.arange(len(equity)) * bar_s, equity, bar_s, rf)
    rf_bar = rf / ppy
    assert close(got["sharpe"], empyrical.sharpe_ratio(r, risk_free=rf_bar, annualization=ppy))
    sortino = empyrical.sortino_ratio(r, required_return=rf_bar, annualization=ppy)
    assert (math.isnan(got["sortino"]) and not np.isfinite(sortino)) or close(
        got["sortino"], sortino)
    assert close(got["volatility"], empyrical.annual_volatility(r, annualization=ppy))
    assert close(got["max_drawdown"], -empyrical.max_drawdown(r))
    if math.isinf(got["cagr"]):  # minutes of gains annualised: past a float, both overflow
        return
    with np.errstate(over="ignore"):
        assert close(got["cagr"], empyrical.annual_return(r, annualization=ppy))
        if got["max_drawdown"] > 0:
            # CAGR over MDD: where the compounded return cancels to near nothing (+1e-6, then
            # -1e-6) the CAGR holds only 1e-16 / |total return| of relative accuracy, in both
            # implementations, and the ratio carries it.
            cum = abs(got["total_return"])
            rel = 1e-9 if cum == 0 else max(1e-9, 1e-15 / cum)
            assert math.isclose(got["calmar"], empyrical.calmar_ratio(r, annualization=ppy),
                                rel_tol=rel, abs_tol=1e-12)
    assert close(got["total_return"], empyrical.cum_returns_final(r))


def test_drawdown_duration_is_peak_to_recovery_or_to_the_end() -> None:
    t = [0, 10, 20, 30, 40, 50, 60]
    assert metrics.max_drawdown_duration(t, [1, 2, 1, 1, 2, 3, 3]) == 30  # peak at 10, back at 40
    assert metrics.max_drawdown_duration(t, [1, 2, 3, 4, 5, 6, 7]) == 0
    assert metrics.max_drawdown_duration(t, [5, 4, 3, 6, 5, 5, 5]) == 30  # 0 -> 30; 30 -> 60


def fill(side: Side, qty: str, price: str, fee: str, ts: int) -> Fill:
    return Fill(f"o{ts}", f"t{ts}", "BTC/USDT", side, D(qty), D(price), D(fee), ts)


def test_round_trips_split_a_flip_and_charge_each_its_share_of_the_fee() -> None:
    fills = [fill(Side.BUY, "1", "100", "0.1", 1), fill(Side.BUY, "1", "110", "0.11", 2),
             fill(Side.SELL, "3", "120", "0.36", 3),  # closes 2 long, opens 1 short
             fill(Side.BUY, "1", "90", "0.09", 4)]
    long, short = round_trips(fills)
    assert (long.side, long.qty, long.entry_price, long.exit_price) == (
        Side.BUY, D(2), D(105), D(120))
    assert long.fees == D("0.1") + D("0.11") + D("0.24")
    assert long.pnl == D(30) - long.fees
    assert (short.side, short.qty, short.entry_price, short.exit_price) == (
        Side.SELL, D(1), D(120), D(90))
    assert short.pnl == D(30) - D("0.12") - D("0.09")


def test_equity_per_bar_is_cash_plus_position_at_the_close() -> None:
    fills = [fill(Side.BUY, "2", "100", "0.2", 5), fill(Side.SELL, "2", "110", "0.22", 25)]
    eq = equity_per_bar(fills, [10, 20, 30], [101.0, 105.0, 111.0], D(1000))
    assert eq == [D(1000) - D(200) - D("0.2") + 2 * D(101),
                  D(1000) - D(200) - D("0.2") + 2 * D(105),
                  D(1000) + D(20) - D("0.42")]
