"""`exchange.allotted_base`: base a spot daemon may sell that it did not buy. The gate lets a
sell go down to minus the allotment and no further (counting working sells), the config names
a bad key, the startup check compares the free base with the allotment plus the journal's
holdings, and the market maker quotes an ask from the allotment before it has bought anything."""

from __future__ import annotations

import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from daemon.book.inventory import InventoryManager
from daemon.book.strategy_view import OwnedOrders, StrategyView
from daemon.config import ConfigError, RiskConfig, parse
from daemon.journal.holdings import base_held
from daemon.journal.store import OrderRecord
from daemon.model import Fill, MarketKind, Order, OrderIntent, OrderType, Side, TickBatch
from daemon.risk.gate import ApprovedOrder, Denied, DenyReason, RiskGate
from daemon.venues.ccxt.startup import check_base
from strategies.base import StrategyContext
from strategies.market_making import MarketMaker, MarketMakingParams
from tests.support.configs import SHIPPED
from tests.support.instruments import instrument

SPOT = instrument(min_qty="0.001", max_qty="500", min_notional="1", kind=MarketKind.SPOT)
SYM = "BTC/USDT"


def books(allotted: str | None) -> InventoryManager:
    inv = InventoryManager([SPOT], D(10_000), None if allotted is None else {"BTC": D(allotted)})
    inv.mark(SYM, 100.0, 0)
    return inv


def gate_for(inv: InventoryManager) -> RiskGate:
    return RiskGate(RiskConfig(D(100_000), D(100_000), 100, max_gross_exposure=D(100_000),
                               max_orders_per_minute=1000), inv.view, 0)


def sell(qty: str) -> OrderIntent:
    return OrderIntent(SYM, Side.SELL, D(qty))


def reason(decision: ApprovedOrder | Denied) -> DenyReason | None:
    return decision.reason if isinstance(decision, Denied) else None


def test_a_spot_sell_may_reach_minus_the_allotment_and_no_further() -> None:
    inv = books("0.5")
    gate = gate_for(inv)
    assert isinstance(gate.check(sell("0.5"), "c1", 0), ApprovedOrder)
    assert reason(gate.check(sell("0.501"), "c2", 0)) is DenyReason.SPOT_NO_SHORT
    # Bought base adds to it; working sells use it up.
    inv.apply_fill(Fill("f", "t1", SYM, Side.BUY, D("0.2"), D(100), D(0), 0))
    inv.open_order(Order("w", SYM, Side.SELL, D("0.3"), OrderType.MARKET, None, False, 0))
    assert isinstance(gate.check(sell("0.4"), "c3", 0), ApprovedOrder)  # 0.3 + 0.4 = 0.7
    assert reason(gate.check(sell("0.401"), "c4", 0)) is DenyReason.SPOT_NO_SHORT


def test_without_an_allotment_only_bought_base_is_sold() -> None:
    gate = gate_for(books(None))
    assert reason(gate.check(sell("0.001"), "c1", 0)) is DenyReason.SPOT_NO_SHORT


def test_the_allotment_is_spot_only_and_flat_means_holding_it() -> None:
    swap = instrument("ETH/USDT:USDT", min_qty="0.001")
    inv = InventoryManager([SPOT, swap], D(1000), {"BTC": D(1), "ETH": D(2)})
    assert (inv.allotted_base(SYM), inv.allotted_base("ETH/USDT:USDT")) == (D(1), D(0))
    assert inv.position(SYM) == 0 and inv.is_flat()  # holding the allotment is flat


def with_allotment(body: str) -> str:
    return SHIPPED + f"\n[exchange]\nallotted_base = {body}\n"


@pytest.mark.parametrize(("body", "message"), [
    ('{ ETH = "1" }', "exchange.allotted_base.ETH: not the base of a spot instrument"),
    ('{ BTC = "0" }', "exchange.allotted_base.BTC: must be > 0"),
    ('{ BTC = "-0.1" }', "exchange.allotted_base.BTC: must be > 0"),
    # msgspec names a dict's entry "[...]" (the key is still the setting's)
    ('{ BTC = "lots" }', "exchange.allotted_base[...]: invalid decimal string"),
])
def test_a_bad_allotment_names_its_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(with_allotment(body))


def test_a_good_allotment_is_exact() -> None:
    cfg = parse(with_allotment('{ BTC = "0.05" }'))
    assert cfg.exchange.allotted_base == {"BTC": D("0.05")}


def record(side: Side, qty: str, filled: str, state: str = "accepted") -> OrderRecord:
    return OrderRecord("c", SYM, side, D(qty), OrderType.LIMIT, D(100), False, "", 0, state,
                       D(filled), "v", False)


def test_base_held_nets_fills_and_base_fees_less_open_sells() -> None:
    """Bought 0.5 (0.0005 of it taken as fee), sold 0.2; an open sell of 0.1 has 0.04 filled
    (in the fills already) and locks the other 0.06; a swap holds no base."""
    fills = [Fill("a", "t1", SYM, Side.BUY, D("0.5"), D(100), D("0.05"), 0, D("0.0005")),
             Fill("b", "t2", SYM, Side.SELL, D("0.2"), D(100), D("0.02"), 0),
             Fill("d", "t3", "ETH/USDT:USDT", Side.BUY, D(1), D(10), D(0), 0)]
    unsettled = [record(Side.SELL, "0.1", "0.04"), record(Side.BUY, "1", "0"),
                 record(Side.SELL, "0.3", "0", state="cancelled")]
    assert base_held(fills, unsettled) == {"BTC": D("0.2395")}  # 0.5 - 0.0005 - 0.2 - 0.06


def test_startup_refuses_less_free_base_than_allotted_plus_held() -> None:
    balance = {"free": {"BTC": 0.3}}
    check_base(balance, {"BTC": D("0.3")}, {})
    check_base(balance, {"BTC": D("0.4")}, {"BTC": D("-0.1")})  # sold 0.1 of it last run
    with pytest.raises(ConfigError, match=r"exchange\.allotted_base\.BTC: 0\.31 BTC is more "
                                          r"than the account's free balance of 0\.3 BTC"):
        check_base(balance, {"BTC": D("0.31")}, {})
    with pytest.raises(ConfigError, match=re.escape(
            "0.3 BTC (+0.1 BTC by its own fills and open sells) is more than")):
        check_base(balance, {"BTC": D("0.3")}, {"BTC": D("0.1")})


def test_the_market_maker_quotes_an_ask_from_the_allotment_before_any_fill(
        tmp_path: Path) -> None:
    params = MarketMakingParams(SYM, qty=D("0.01"), max_inventory=D("0.03"))
    for allotted, sides in (("0.02", {Side.BUY, Side.SELL}), (None, {Side.BUY})):
        inv = books(allotted)
        view = StrategyView(inv, OwnedOrders(inv))
        mm = MarketMaker(params, StrategyContext({SYM: SPOT}, tmp_path))
        batch = TickBatch(SYM, [1], [100.0], [0.1], 99.99, 100.01, 1)
        actions = mm.on_ticks(batch, view)
        assert {a.side for a in actions if isinstance(a, OrderIntent)} == sides
