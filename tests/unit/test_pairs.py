"""Pairs trading: the Kalman hedge ratio converges to the simulated pair's true ratio; a scripted
divergence opens both legs dollar-neutral and the reversion closes them; a rejected leg
unwinds the other. Over real books (inventory, strategy view); fills are booked as a broker's
would be."""

from __future__ import annotations

import asyncio
import math
import random
from decimal import Decimal
from pathlib import Path

from daemon.book.inventory import InventoryManager
from daemon.book.strategy_view import OwnedOrders, StrategyView
from daemon.config import InstrumentConfig, SimConfig, SimPairConfig
from daemon.events import OrderRejected
from daemon.model import Bar, Fill, OrderIntent, Side
from daemon.venues.sim import SimMarket
from strategies.base import StrategyContext
from strategies.pairs import PairsParams, PairsTrading
from tests.support.clock import ManualClock
from tests.support.instruments import instrument

S = 10**9
Y, X = "ETH/USDT", "BTC/USDT"
BETA, ALPHA = 0.04, 600.0


class _FastClock(ManualClock):
    """Sleeping moves the clock: hours of the simulated market in a second."""

    async def sleep(self, seconds: float) -> None:
        self.advance(int(seconds * 1e9))


def _strategy(**kw: object) -> tuple[PairsTrading, InventoryManager, StrategyView, OwnedOrders]:
    insts = {Y: instrument(Y, lot="0.0001", min_qty="0.0001"),
             X: instrument(X, lot="0.00001", min_qty="0.00001")}
    params = PairsParams(dependent=Y, independent=X, notional=Decimal(1000), min_bars=20,
                         **kw)  # type: ignore[arg-type]
    strategy = PairsTrading(params, StrategyContext(insts, Path(".")))
    inventory = InventoryManager(insts.values(), Decimal(100_000))
    owned = OwnedOrders(inventory)
    return strategy, inventory, StrategyView(inventory, owned), owned


def _bar(symbol: str, k: int, close: float) -> Bar:
    return Bar(symbol, k * S, (k + 1) * S, close, close, close, close, 1.0, 1)


def test_kalman_hedge_ratio_converges_to_the_sims_ratio() -> None:
    """Four simulated hours of a cointegrated pair (ETH = 600 + 0.04 BTC + an OU spread),
    sampled each minute into the strategy's own filter: the slope ends within 5% of 0.04."""
    insts = [InstrumentConfig(X, Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
                              Decimal(9000), Decimal(5), Decimal(60000)),
             InstrumentConfig(Y, Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"),
                              Decimal(9000), Decimal(5), Decimal(3000))]
    sim = SimMarket(insts, SimConfig(ticks_per_s=2, pair=SimPairConfig(Y, X, Decimal(BETA))),
                    1000, _FastClock(0))
    strategy, *_ = _strategy()

    async def sample() -> None:
        last: dict[str, float] = {}
        seconds = 0
        async for batch in sim.stream():
            last[batch.symbol] = batch.price[-1]
            if batch.symbol == Y:
                seconds += 1
                if seconds % 60 == 0:
                    minute = seconds // 60
                    strategy.warm_up(_bar(X, minute, last[X]))
                    strategy.warm_up(_bar(Y, minute, last[Y]))
                if seconds >= 4 * 3600:
                    return

    asyncio.run(sample())
    assert strategy.updates == 240
    assert abs(strategy.kalman.beta - BETA) / BETA < 0.05, strategy.kalman.beta


def _feed(strategy: PairsTrading, inventory: InventoryManager, view: StrategyView, k: int,
          x: float, y: float) -> list[OrderIntent]:
    out: list[OrderIntent] = []
    for symbol, close in ((X, x), (Y, y)):
        inventory.mark(symbol, close, (k + 1) * S)
        out += [a for a in strategy.on_bar(_bar(symbol, k, close), view)
                if isinstance(a, OrderIntent)]
    return out


def _history(strategy: PairsTrading) -> int:
    """300 bars on the fair line (noise 0.3), shown as warm-up: the filter learns the line."""
    rng = random.Random(3)
    for k in range(300):
        x = 60000 + 1500 * math.sin(k / 15)
        strategy.warm_up(_bar(X, k, x))
        strategy.warm_up(_bar(Y, k, ALPHA + BETA * x + rng.gauss(0, 0.3)))
    return 300


def _fill(inventory: InventoryManager, owned: OwnedOrders, intent: OrderIntent, n: int) -> str:
    coid = f"c{n}"
    owned.add(coid, intent.tag)
    price = inventory.mark_price(intent.symbol)
    assert price is not None
    inventory.apply_fill(Fill(coid, f"t{n}", intent.symbol, intent.side, intent.qty, price,
                              Decimal(0), n))
    return coid


def test_divergence_opens_both_legs_dollar_neutral_and_reversion_closes_them() -> None:
    """1. 300 bars on the fair line (noise 0.3) train the filter; 2. ETH 2 (about 6 sigma) over
    its fair value: sell ETH, buy BTC, 1000 USDT each at the marks; 3. both fill; 4. ETH back on the
    line: both legs closed, reduce-only."""
    strategy, inventory, view, owned = _strategy(obs_var=0.1)
    k = _history(strategy)
    x = 60000 + 1500 * math.sin(k / 15)
    y_rich = ALPHA + BETA * x + 2
    legs = _feed(strategy, inventory, view, k, x, y_rich)
    assert strategy.z is not None and strategy.z > 2
    assert [(i.symbol, i.side, i.tag) for i in legs] == [(Y, Side.SELL, "leg_y"),
                                                          (X, Side.BUY, "leg_x")]
    y_leg, x_leg = legs
    assert y_leg.qty == (Decimal(1000) / Decimal(repr(y_rich))).quantize(
        Decimal("0.0001"), rounding="ROUND_FLOOR")
    assert x_leg.qty == (Decimal(1000) / Decimal(repr(x))).quantize(
        Decimal("0.00001"), rounding="ROUND_FLOOR")
    for n, leg in enumerate(legs):
        _fill(inventory, owned, leg, n)
    x2 = 60000 + 1500 * math.sin((k + 1) / 15)
    exits = _feed(strategy, inventory, view, k + 1, x2, ALPHA + BETA * x2)
    assert strategy.z is not None and abs(strategy.z) < 0.5
    assert sorted((i.symbol, i.side, i.qty, i.reduce_only, i.tag) for i in exits) == sorted([
        (Y, Side.BUY, y_leg.qty, True, "exit"), (X, Side.SELL, x_leg.qty, True, "exit")])


def test_a_rejected_leg_unwinds_the_other() -> None:
    """1. a divergence sends both legs; 2. the ETH leg fills, the BTC leg is rejected; 3. the
    strategy closes the ETH leg (reduce-only) and, once flat, is ready again."""
    strategy, inventory, view, owned = _strategy(obs_var=0.1)
    k = _history(strategy)
    x = 60000 + 1500 * math.sin(k / 15)
    y_leg, x_leg = _feed(strategy, inventory, view, k, x, ALPHA + BETA * x + 2)
    _fill(inventory, owned, y_leg, 1)
    owned.add("c2", x_leg.tag)
    unwind = strategy.on_order(OrderRejected("c2", "insufficient_funds", "no", 1), view)
    assert strategy.state == "unwinding"
    close, = unwind
    assert isinstance(close, OrderIntent)
    assert (close.symbol, close.side, close.qty, close.reduce_only) == (
        Y, Side.BUY, y_leg.qty, True)
    _fill(inventory, owned, close, 3)
    assert strategy.on_fill(Fill("c3", "t3", Y, Side.BUY, close.qty, Decimal(1), Decimal(0),
                                 3), view) == []
    assert strategy.state == "flat"
