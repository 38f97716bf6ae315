"""The seed AR(3) strategy: forecast, compounding size, and what it does on a new sign."""

from __future__ import annotations

import math
from decimal import Decimal as D
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.book.inventory import InventoryManager
from daemon.config import ConfigError
from daemon.model import Bar, Fill, MarketKind, Side
from strategies.ar_forecast import ARForecastStrategy, ARParams, save_weights, target_qty
from strategies.base import StrategyContext, load
from tests.support.instruments import instrument

INST = instrument(max_qty="1000", min_notional="1")
SEED_W = [-0.10395038, -0.06726477, 0.02827305]
SEED_B = 0.00067121


def ctx(kind: MarketKind = MarketKind.MARGIN) -> StrategyContext:
    inst = instrument(max_qty="1000", min_notional="1", kind=kind)
    return StrategyContext({"BTC/USDT": inst}, Path("."))


def strategy(kind: MarketKind = MarketKind.MARGIN, **kw: object) -> ARForecastStrategy:
    return ARForecastStrategy(ARParams("BTC/USDT", **kw), ctx(kind))  # type: ignore[arg-type]


def bar(close: float, n: int = 0) -> Bar:
    return Bar("BTC/USDT", n, n + 1, close, close, close, close, 1.0, 1)


@pytest.mark.parametrize(("equity", "price", "scale", "expected"), [
    ("10000", "60000", "1", "0.166"),   # 0.1666.. floored to the 0.001 grid
    ("115", "115", "1", "1.000"),       # after the winning trade below
    ("115", "115", "2", "2.000"),       # leverage 2
    ("100", "30000", "1", "0.003"),
    ("0", "100", "1", "0"),
    ("-5", "100", "1", "0"),
])
def test_target_qty_hand_computed(equity: str, price: str, scale: str, expected: str) -> None:
    assert target_qty(D(equity), D(price), D(scale), INST) == D(expected)


def test_size_after_a_winning_trade_compounds_the_gain() -> None:
    """Long 1 @ 100, marked at 115: equity is 115 (the seed computed 85), so the next position
    at 115 is 1.000 with scale 1, not 0.739."""
    inv = InventoryManager([INST], D(100))
    inv.apply_fill(Fill("c", "t", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    inv.mark("BTC/USDT", 115.0, 0)
    s = strategy(allow_interval_mismatch=True)
    intents = s.rebalance(-1, D(115), inv.view, 0)
    assert [(i.side, i.qty, i.reduce_only, i.tag) for i in intents] == [
        (Side.SELL, D(1), True, "close"), (Side.SELL, D("1.000"), False, "open")]


def test_forecast_is_the_seed_linear_model() -> None:
    s = strategy()
    lags = [math.log(160 / 110), math.log(110 / 150), math.log(150 / 100)]
    expected = sum(w * x for w, x in zip(SEED_W, lags, strict=True)) + SEED_B
    assert s.forecast(lags) == pytest.approx(expected, abs=1e-7)
    assert s.forecast(lags) == pytest.approx(-0.0060, abs=5e-5)  # the seed notebook's output


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=3, max_size=3))
def test_forecast_equals_the_torch_modules_own_forward(lags: list[float]) -> None:
    """The per-bar evaluation into preallocated tensors is exactly `model(x)`, not a copy of
    the weights that could drift from the loaded file."""
    s = strategy()
    with torch.inference_mode():
        expected = float(s.model(torch.tensor([lags], dtype=torch.float32)).item())
    assert s.forecast(lags) == expected


def test_bars_drive_a_position_by_the_forecast_sign() -> None:
    """Four closes give the three lags; +forecast buys equity/price; a new sign closes and
    reverses at the compounded size."""
    inv = InventoryManager([INST], D(10_000))
    inv.mark("BTC/USDT", 110.0, 0)
    s = strategy()
    out = [s.on_bar(bar(p, n), inv.view) for n, p in enumerate([90.0, 100.0, 150.0])]
    assert out == [(), (), ()]
    (buy,) = s.on_bar(bar(110.0, 3), inv.view)
    assert s.last_forecast is not None and s.last_forecast > 0
    assert (buy.side, buy.qty) == (Side.BUY, D("90.909"))  # floor(10000 / 110, 0.001)
    inv.apply_fill(Fill("c", "t", "BTC/USDT", Side.BUY, buy.qty, D(110), D(0), 0))
    inv.mark("BTC/USDT", 160.0, 0)
    close, sell = s.on_bar(bar(160.0, 4), inv.view)
    assert s.last_forecast < 0
    equity = D(10_000) + D("90.909") * 50
    assert (close.side, close.qty, close.reduce_only) == (Side.SELL, D("90.909"), True)
    assert (sell.side, sell.qty) == (Side.SELL, INST.floor_qty(equity / 160))


def test_spot_short_signal_means_flat() -> None:
    inv = InventoryManager([INST], D(10_000))
    inv.apply_fill(Fill("c", "t", "BTC/USDT", Side.BUY, D(1), D(100), D(0), 0))
    s = strategy(MarketKind.SPOT)
    for n, p in enumerate([90.0, 100.0, 150.0, 110.0]):
        s.on_bar(bar(p, n), inv.view)
    intents = s.on_bar(bar(160.0, 4), inv.view)
    assert [(i.side, i.qty, i.tag) for i in intents] == [(Side.SELL, D(1), "close")]


@pytest.mark.parametrize("scale", ["1", "3"])
def test_spot_long_is_sized_within_the_equity_whatever_the_scale(scale: str) -> None:
    """Spot cannot borrow: the buy is 99% of equity / price however large `scale` is, so the
    gate's spot_capital check passes the strategy's own orders."""
    inv = InventoryManager([INST], D(10_000))
    s = strategy(MarketKind.SPOT, scale=D(scale))
    for n, p in enumerate([90.0, 100.0, 150.0]):
        s.on_bar(bar(p, n), inv.view)
    (buy,) = s.on_bar(bar(110.0, 3), inv.view)
    assert (buy.side, buy.qty) == (Side.BUY, D("90.000"))  # floor(10000 / 110 x 0.99, 0.001)


def test_model_metadata_must_match_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^strategy\.params\.bar_interval_s: 60 does not"):
        load("strategies.ar_forecast:ARForecastStrategy",
             {"symbol": "BTC/USDT", "bar_interval_s": 60}, ctx())
    with pytest.raises(ConfigError, match=r"^strategy\.params\.lags: 2 does not match"):
        load("strategies.ar_forecast:ARForecastStrategy", {"symbol": "BTC/USDT", "lags": 2},
             ctx())
    path = tmp_path / "m.pt"
    save_weights(path, [[0.1, 0.2]], [0.0], 60)
    s = load("strategies.ar_forecast:ARForecastStrategy",
             {"symbol": "BTC/USDT", "lags": 2, "bar_interval_s": 60, "weights": str(path)}, ctx())
    assert s.bar_interval_ns == 60 * 10**9


def test_weights_are_loaded_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": {"lags": 3, "bar_interval_s": 43200},
                "payload": Path("x")}, path)
    with pytest.raises(ConfigError, match=r"^strategy\.params\.weights: cannot load"):
        load("strategies.ar_forecast:ARForecastStrategy",
             {"symbol": "BTC/USDT", "weights": str(path)}, ctx())
