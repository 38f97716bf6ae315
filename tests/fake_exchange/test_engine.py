"""Matching-engine invariants under random order flow (hypothesis), without any network."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fake_exchange import BinanceError, FakeBinance
from tests.fake_exchange.markets import DEFAULT_SYMBOLS

D = Decimal
BTC = DEFAULT_SYMBOLS[0]

action = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 150_000)),  # qty in steps of 0.00001
    st.tuples(st.just("limit"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 150_000),
              st.integers(-1500, 1500), st.sampled_from(["GTC", "IOC", "FOK"])),
    st.tuples(st.just("step"), st.integers(1, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("operator_fill"), st.integers(0, 20)),
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 1000), actions=st.lists(action, max_size=25))
def test_balances_are_conserved_and_locks_match_open_orders(
    seed: int, actions: list[tuple[object, ...]]
) -> None:
    fx = FakeBinance(seed=seed)  # never started: the engine needs no loop
    eng = fx.engine
    start = {a: b.free for a, b in eng.balances.items()}
    for act in actions:
        kind = act[0]
        try:
            if kind == "market":
                eng.place_order("BTCUSDT", str(act[1]), "MARKET", BTC.step_size * int(str(act[2])),
                                None, None, None, f"c{len(eng.orders)}")
            elif kind == "limit":
                mid = eng.books["BTCUSDT"].mid() or BTC.start_mid
                price = BTC.round_price(mid + D(int(str(act[3]))) * D("0.1"))
                eng.place_order("BTCUSDT", str(act[1]), "LIMIT", BTC.step_size * int(str(act[2])),
                                None, price, str(act[4]), f"c{len(eng.orders)}")
            elif kind == "step":
                fx.step(int(str(act[1])), "BTCUSDT")
            else:
                opened = eng.open_orders("BTCUSDT")
                if opened:
                    order = opened[int(str(act[1])) % len(opened)]
                    if kind == "cancel":
                        eng.cancel(order, "x")
                    else:
                        eng.operator_fill(order)
        except BinanceError as exc:
            assert exc.code in (-2010, -1013)
    base, quote = eng.balance("BTC"), eng.balance("USDT")
    for bal in (base, quote):
        assert bal.free >= 0 and bal.locked >= 0
    opened = eng.open_orders()
    assert quote.locked == sum((o.locked for o in opened if o.side == "BUY"), D(0))
    assert base.locked == sum((o.locked for o in opened if o.side == "SELL"), D(0))
    buys = [f for f in eng.fills if f.is_buyer]
    sells = [f for f in eng.fills if not f.is_buyer]
    assert base.free + base.locked == start["BTC"] + sum(
        (f.qty - f.commission for f in buys), D(0)) - sum((f.qty for f in sells), D(0))
    assert quote.free + quote.locked == start["USDT"] - sum(
        (f.quote_qty for f in buys), D(0)) + sum((f.quote_qty - f.commission for f in sells),
                                                 D(0))
    ids = [f.trade_id for f in eng.fills]
    assert ids == sorted(set(ids))
    for order in eng.orders.values():
        assert D(0) <= order.executed_qty <= order.orig_qty
        assert order.cum_quote == sum((f.quote_qty for f in order.fills), D(0))
        assert (order.status == "FILLED") == (order.executed_qty == order.orig_qty)


@pytest.mark.parametrize(
    ("qty", "price", "error"),
    [
        ("0.00001", "600000", None),  # minQty, notional 6
        ("0.000015", "61000", "LOT_SIZE"),  # off the 0.00001 step
        ("0.000001", "61000", "LOT_SIZE"),  # below minQty
        ("9000.00001", "1", "LOT_SIZE"),  # above maxQty
        ("0.001", "61000.001", "PRICE_FILTER"),  # off the 0.01 tick
        ("0.00008", "61000", "NOTIONAL"),  # 4.88 < 5
    ],
)
def test_filters_use_binance_messages(qty: str, price: str, error: str | None) -> None:
    if error is None:
        BTC.check_order("LIMIT", D(qty), D(price), D(price))
        return
    with pytest.raises(BinanceError) as err:
        BTC.check_order("LIMIT", D(qty), D(price), D(price))
    assert (err.value.code, err.value.msg) == (-1013, f"Filter failure: {error}")


def test_fok_that_cannot_fill_entirely_expires_untouched() -> None:
    fx = FakeBinance(seed=1)
    order, fills = fx.engine.place_order("BTCUSDT", "BUY", "LIMIT", D("0.7"), None,
                                         D("61837.50"), "FOK", "fok")
    assert (order.status, fills, order.executed_qty) == ("EXPIRED", [], 0)
    assert fx.engine.balance("USDT").locked == 0 and fx.engine.balance("USDT").free == 100000


def test_limit_maker_that_would_take_is_rejected() -> None:
    fx = FakeBinance(seed=1)
    with pytest.raises(BinanceError, match="immediately match"):
        fx.engine.place_order("BTCUSDT", "BUY", "LIMIT_MAKER", D("0.1"), None, D("61900"),
                              None, "lm")
