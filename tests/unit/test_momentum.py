"""The momentum strategy on a scripted path of closes, over real books: entry on the z-score,
sizes against figures computed here independently (statistics.stdev, the formulas written out),
then the trailing stop and the cool-down after it."""

from __future__ import annotations

import math
import statistics
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest

from daemon.book.inventory import InventoryManager
from daemon.book.strategy_view import OwnedOrders, StrategyView
from daemon.model import Bar, Fill, OrderIntent, Side
from strategies.base import StrategyContext
from strategies.momentum import Momentum, MomentumParams
from tests.support.instruments import instrument

S = 10**9
PATH = [100.0, 100.2, 100.1, 100.3, 101.5]  # the last close makes z > entry_z
EQUITY = Decimal(10_000)


def _strategy(**kw: object) -> tuple[Momentum, InventoryManager, StrategyView]:
    inst = instrument(lot="0.00001", min_qty="0.00001")
    params = MomentumParams(symbol=inst.symbol, lookback_bars=2, vol_window=3, entry_z=1.0,
                            trail_pct=2.0, cooldown_bars=2, **kw)  # type: ignore[arg-type]
    strategy = Momentum(params, StrategyContext({inst.symbol: inst}, Path(".")))
    inventory = InventoryManager([inst], EQUITY)
    return strategy, inventory, StrategyView(inventory, OwnedOrders(inventory))


def _bar(k: int, close: float) -> Bar:
    return Bar("BTC/USDT", k * S, (k + 1) * S, close, close, close, close, 1.0, 1)


def _feed(strategy: Momentum, inventory: InventoryManager, view: StrategyView,
          closes: list[float], start: int = 0) -> list[list[OrderIntent]]:
    out = []
    for k, close in enumerate(closes, start):
        inventory.mark("BTC/USDT", close, (k + 1) * S)
        out.append([a for a in strategy.on_bar(_bar(k, close), view)
                    if isinstance(a, OrderIntent)])
    return out


def _fill(inventory: InventoryManager, intent: OrderIntent, price: float, n: int) -> None:
    inventory.apply_fill(Fill(f"c{n}", f"t{n}", intent.symbol, intent.side, intent.qty,
                              Decimal(repr(price)), Decimal(0), n))


def _expected_qty(target_vol: float, kelly_k: float, kelly_cap: float) -> Decimal:
    rets = [math.log(b / a) for a, b in zip(PATH[-4:-1], PATH[-3:], strict=True)]
    sigma = statistics.stdev(rets)
    mu = math.log(PATH[-1] / PATH[-3]) / 2
    frac = min(target_vol / sigma, min(kelly_cap, kelly_k * mu / sigma**2), 1.0)
    raw = EQUITY * Decimal(repr(frac)) / Decimal(repr(PATH[-1]))
    step = Decimal("0.00001")
    return (raw / step).to_integral_value(ROUND_FLOOR) * step


@pytest.mark.parametrize(("target_vol", "kelly_k", "kelly_cap", "binding"), [
    (0.002, 0.005, 1.0, "vol target"),  # 0.002 / sigma = 0.296 < Kelly 0.76
    (0.002, 0.05, 0.2, "kelly cap"),  # Kelly 7.6, capped at 0.2 < 0.296
])
def test_entry_size_is_vol_target_under_the_kelly_cap(target_vol: float, kelly_k: float,
                                                      kelly_cap: float, binding: str) -> None:
    strategy, inventory, view = _strategy(target_vol=target_vol, kelly_k=kelly_k,
                                          kelly_cap=kelly_cap)
    looks = _feed(strategy, inventory, view, PATH)
    assert looks[:-1] == [[]] * 4  # no signal until the last close
    entry, = looks[-1]
    assert (entry.side, entry.tag) == (Side.BUY, "entry")
    assert entry.qty == _expected_qty(target_vol, kelly_k, kelly_cap), binding
    sig = strategy.last_signal
    assert sig is not None and sig.z == pytest.approx(
        math.log(PATH[-1] / PATH[-3]) / (sig.sigma * math.sqrt(2)))


def test_trailing_stop_exits_then_cools_down() -> None:
    """1. the entry fills at 101.5; 2. the price rises to 104 (the best); 3. a close 2% under
    the best closes the whole position, reduce-only; 4. for two bars no entry is
    taken, however strong the signal; 5. the third bar enters again."""
    strategy, inventory, view = _strategy(target_vol=0.002, kelly_k=0.005)
    entry, = _feed(strategy, inventory, view, PATH)[-1]
    _fill(inventory, entry, PATH[-1], 1)
    # 101.95 is 1.97% under the best close, 104: not yet; 101.9 is 2.02% under it
    assert _feed(strategy, inventory, view, [103.0, 104.0, 102.5, 101.95], 5) == [[]] * 4
    stop, = _feed(strategy, inventory, view, [101.9], 9)[0]
    assert (stop.side, stop.qty, stop.reduce_only, stop.tag) == (
        Side.SELL, entry.qty, True, "trailing_stop")
    _fill(inventory, stop, 101.9, 2)
    looks = _feed(strategy, inventory, view, [103.5, 105.5, 108.0], 10)
    assert looks[0] == [] and looks[1] == []
    assert strategy.last_signal is not None and strategy.last_signal.z > 1.0
    assert [i.tag for i in looks[2]] == ["entry"]
