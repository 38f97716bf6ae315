"""Orders through unmodified ccxt REST: fills, fees, balances, resting orders, queries, rejects.

The synthetic ladder is deterministic: before any `step()` BTCUSDT's best bid/ask are
61837.49/61837.50, further levels 1.00 apart, 0.5 BTC each.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.fake_exchange import FakeBinance

D = Decimal
ASK0, BID0, SPACING, LEVEL = D("61837.50"), D("61837.49"), D("1.00"), D("0.5")
SYM = "BTC/USDT"


async def balances(rest: ccxt_async.binance) -> dict[str, tuple[Decimal, Decimal]]:
    raw = (await rest.fetch_balance())["info"]["balances"]
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in raw}


@pytest.mark.asyncio
async def test_fetch_balance(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    fx.set_balance("USDT", "1234.5", "10")
    bal = await rest.fetch_balance()
    assert bal["USDT"] == {"free": 1234.5, "used": 10.0, "total": 1244.5}
    assert bal["BTC"]["free"] == 1.0


@pytest.mark.asyncio
async def test_market_buy_moves_balances_by_exactly_qty_cost_and_fee(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    before = await balances(rest)
    order = await rest.create_order(SYM, "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    fills = order["info"]["fills"]
    assert [(D(f["price"]), D(f["qty"])) for f in fills] == [(ASK0, D("0.01"))]
    assert fills[0]["commission"] == "0.00001000" and fills[0]["commissionAsset"] == "BTC"
    after = await balances(rest)
    cost = ASK0 * D("0.01")
    assert D(order["info"]["cummulativeQuoteQty"]) == cost
    assert after["USDT"][0] == before["USDT"][0] - cost
    assert after["BTC"][0] == before["BTC"][0] + D("0.01") - D("0.00001")
    assert after["BTC"][1] == after["USDT"][1] == 0


@pytest.mark.asyncio
async def test_market_sell_fee_is_charged_in_quote(fx: FakeBinance,
                                                   rest: ccxt_async.binance) -> None:
    before = await balances(rest)
    order = await rest.create_order(SYM, "market", "sell", 0.1)
    fill = order["info"]["fills"][0]
    quote = BID0 * D("0.1")
    assert D(fill["commission"]) == quote * D("0.001") and fill["commissionAsset"] == "USDT"
    after = await balances(rest)
    assert after["BTC"][0] == before["BTC"][0] - D("0.1")
    assert after["USDT"][0] == before["USDT"][0] + quote - quote * D("0.001")


@pytest.mark.asyncio
async def test_large_market_order_walks_levels(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    order = await rest.create_order(SYM, "market", "buy", 1.2)
    got = [(D(f["price"]), D(f["qty"])) for f in order["info"]["fills"]]
    assert got == [(ASK0, LEVEL), (ASK0 + SPACING, LEVEL), (ASK0 + 2 * SPACING, D("0.2"))]
    assert D(order["info"]["cummulativeQuoteQty"]) == sum(p * q for p, q in got)
    ids = [f["tradeId"] for f in order["info"]["fills"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    # the consumed liquidity is gone until the book is rebuilt
    again = await rest.create_order(SYM, "market", "buy", 0.1)
    assert D(again["info"]["fills"][0]["price"]) == ASK0 + 2 * SPACING


@pytest.mark.asyncio
async def test_market_buy_by_quote_amount(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    order = await rest.create_market_buy_order_with_cost(SYM, 100)
    qty = D(order["info"]["executedQty"])
    assert qty == D("0.00161")  # 100 / 61837.50 rounded down to the 0.00001 step
    assert D(order["info"]["cummulativeQuoteQty"]) == qty * ASK0


@pytest.mark.asyncio
async def test_limit_order_rests_then_partially_fills_then_fills(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    limit = D("61800.00")
    order = await rest.create_order(SYM, "limit", "buy", 0.8, float(limit),
                                    {"clientOrderId": "rest-1"})
    assert order["status"] == "open" and order["filled"] == 0
    assert (await balances(rest))["USDT"][1] == D("0.8") * limit
    fx.set_mid("BTCUSDT", "61799.995")  # best ask == 61800.00: one 0.5 level crosses
    part = await rest.fetch_order(None, SYM, {"origClientOrderId": "rest-1"})
    assert part["status"] == "open" and part["info"]["status"] == "PARTIALLY_FILLED"
    assert part["filled"] == 0.5
    fx.set_mid("BTCUSDT", "61798.995")  # a fresh 0.5 level at 61799.00 crosses too
    done = await rest.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["filled"] == 0.8
    trades = await rest.fetch_my_trades(SYM)
    assert [(D(t["info"]["price"]), D(t["info"]["qty"]), t["takerOrMaker"]) for t in trades] \
        == [(limit, D("0.5"), "maker"), (limit, D("0.3"), "maker")]
    bal = await balances(rest)
    assert bal["USDT"] == (D(100000) - D("0.8") * limit, 0)
    assert bal["BTC"][0] == 1 + D("0.8") - D("0.0008")


@pytest.mark.asyncio
async def test_ioc_expires_the_rest(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    order = await rest.create_order(SYM, "limit", "buy", 1.2, float(ASK0 + SPACING),
                                    {"timeInForce": "IOC"})
    assert order["status"] == "expired" and order["filled"] == 1.0
    assert (await balances(rest))["USDT"][1] == 0


@pytest.mark.asyncio
async def test_queries_by_client_id_cancel_and_cancel_all(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    a = await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "q-a"})
    await rest.create_order(SYM, "limit", "sell", 0.01, 65000, {"clientOrderId": "q-b"})
    await rest.create_order("ETH/USDT", "limit", "buy", 0.1, 2000, {"clientOrderId": "q-c"})
    by_cid = await rest.fetch_order(None, SYM, {"clientOrderId": "q-a"})
    assert by_cid["id"] == a["id"] and by_cid["clientOrderId"] == "q-a"
    assert {o["clientOrderId"] for o in await rest.fetch_open_orders(SYM)} == {"q-a", "q-b"}
    assert len(await rest.fetch_open_orders()) == 3
    canceled = await rest.cancel_order(None, SYM, {"origClientOrderId": "q-a"})
    assert canceled["status"] == "canceled" and canceled["id"] == a["id"]
    with pytest.raises(ccxt_async.OrderNotFound):
        await rest.cancel_order(a["id"], SYM)
    with pytest.raises(ccxt_async.OrderNotFound):
        await rest.fetch_order(None, SYM, {"origClientOrderId": "nope"})
    rest_all = await rest.cancel_all_orders(SYM)
    # a cancel answer carries the cancel request's id as clientOrderId, the order's as orig
    assert [o["info"]["origClientOrderId"] for o in rest_all] == ["q-b"]
    assert [o["clientOrderId"] for o in await rest.fetch_open_orders()] == ["q-c"]
    assert [o["status"] for o in await rest.fetch_orders(SYM)] == ["canceled", "canceled"]
    bal = await balances(rest)
    assert bal["BTC"][1] == 0 and bal["USDT"][1] == D("0.1") * 2000


@pytest.mark.asyncio
async def test_fetch_my_trades_paging(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    for _ in range(4):
        await rest.create_order(SYM, "market", "buy", 0.001)
    trades = await rest.fetch_my_trades(SYM)
    ids = [int(t["id"]) for t in trades]
    assert len(ids) == 4 and ids == sorted(ids)
    assert [int(t["id"]) for t in await rest.fetch_my_trades(SYM, limit=2)] == ids[-2:]
    from_id = await rest.fetch_my_trades(SYM, params={"fromId": ids[1]})
    assert [int(t["id"]) for t in from_id] == ids[1:]
    since = await rest.fetch_my_trades(SYM, since=trades[2]["timestamp"], limit=1)
    assert int(since[0]["id"]) == next(i for i, t in zip(ids, trades, strict=True)
                                      if t["timestamp"] >= trades[2]["timestamp"])


@pytest.mark.asyncio
async def test_duplicate_client_id_while_open(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt_async.InvalidOrder, match="Duplicate order sent"):
        await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "dup"})
    await rest.cancel_order(None, SYM, {"origClientOrderId": "dup"})
    await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "dup"})
    assert fx.order_post_count("dup") == 3


@pytest.mark.asyncio
async def test_rejections_map_to_ccxt_exceptions(fx: FakeBinance,
                                                 rest: ccxt_async.binance) -> None:
    with pytest.raises(ccxt_async.InsufficientFunds):
        await rest.create_order(SYM, "market", "buy", 4)  # ~247k USDT of asks, 100k held
    with pytest.raises(ccxt_async.InsufficientFunds):
        await rest.create_order(SYM, "limit", "sell", 2, 70000)
    with pytest.raises(ccxt_async.InvalidOrder, match="LOT_SIZE"):
        await rest.create_order(SYM, "limit", "buy", 9001, 0.01)
    with pytest.raises(ccxt_async.InvalidOrder, match="PRICE_FILTER"):
        await rest.create_order(SYM, "limit", "sell", 0.001, 2_000_000)
    # ccxt maps -1013 by code to BadRequest; only LOT_SIZE/PRICE_FILTER messages it special-
    # cases into InvalidOrder. A NOTIONAL failure is therefore NOT an InvalidOrder.
    with pytest.raises(ccxt_async.BadRequest, match="Filter failure: NOTIONAL"):
        await rest.create_order(SYM, "limit", "buy", 0.00005, 61000)
    assert [code for _, code, _ in fx.engine.rejections] == [-2010, -2010, -1013, -1013, -1013]
    assert fx.orders() == [] and fx.trades() == []
