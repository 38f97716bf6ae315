"""USDⓈ-M futures through unmodified `ccxt.binanceusdm`: positions, margin, reduceOnly, time in
force, funding, liquidation, the user-data stream.

Before any `step()` BTCUSDT's best bid/ask are 61837.49/61837.50, 0.5 BTC a level, 1.00 apart.
Fees: maker 0.02%, taker 0.05%, in USDT on the notional. The futures wallet starts at 10,000.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt
import ccxt.pro as ccxt_pro
import pytest
import pytest_asyncio

from tests.fake_exchange import FakeBinance

D = Decimal
ASK0, BID0 = D("61837.50"), D("61837.49")
SYM = "BTC/USDT:USDT"


@pytest_asyncio.fixture
async def fut(fx: FakeBinance) -> AsyncIterator[ccxt_pro.binanceusdm]:
    exchange = ccxt_pro.binanceusdm({**fx.ccxt_config(futures=True), **fx.ccxt_credentials(),
                                     "enableRateLimit": False})
    try:
        yield exchange
    finally:
        await exchange.close()


def position(fx: FakeBinance) -> tuple[Decimal, Decimal]:
    pos = fx.futures.positions["BTCUSDT"]
    return pos.amt, pos.entry


@pytest.mark.asyncio
async def test_markets_are_linear_perpetuals(fut: ccxt_pro.binanceusdm) -> None:
    markets = await fut.load_markets()
    m = markets[SYM]
    assert (m["swap"], m["linear"], m["settle"], m["contractSize"]) == (True, True, "USDT", 1)
    assert m["precision"]["amount"] == 0.001


@pytest.mark.asyncio
async def test_short_then_close_realizes_pnl_and_charges_commission_in_usdt(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.create_order(SYM, "market", "sell", 0.01)
    assert position(fx) == (D("-0.01"), BID0)
    fx.set_mid("BTCUSDT", "61000")
    close = await fut.create_order(SYM, "market", "buy", 0.01, None, {"reduceOnly": True})
    assert close["reduceOnly"] is True and close["status"] == "closed"
    assert position(fx)[0] == 0
    trades = await fut.fetch_my_trades(SYM)
    exit_price = D(str(trades[-1]["price"]))
    realized = (BID0 - exit_price) * D("0.01")
    assert D(trades[-1]["info"]["realizedPnl"]) == realized
    for t in trades:
        notional = D(t["info"]["price"]) * D(t["info"]["qty"])
        assert D(t["info"]["commission"]) == (notional * D("0.0005")).quantize(D("1e-8"))
        assert t["fee"]["currency"] == "USDT"
    fees = sum((D(t["info"]["commission"]) for t in trades), D(0))
    assert fx.futures_wallet() == D(10000) + realized - fees


@pytest.mark.asyncio
async def test_reduce_only_that_would_open_is_refused_with_2022(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    with pytest.raises(ccxt.ExchangeError) as err:
        await fut.create_order(SYM, "market", "sell", 0.01, None, {"reduceOnly": True})
    assert '"code":-2022' in str(err.value)
    # ccxt leaves it a plain ExchangeError off the production host (the daemon reads the code)
    assert type(err.value) is ccxt.ExchangeError


@pytest.mark.asyncio
async def test_reduce_only_larger_than_the_position_fills_only_the_position(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.create_order(SYM, "market", "buy", 0.02)
    order = await fut.create_order(SYM, "market", "sell", 0.05, None, {"reduceOnly": True})
    assert (order["status"], order["filled"]) == ("expired", 0.02)
    assert position(fx)[0] == 0


@pytest.mark.asyncio
async def test_margin_is_checked_against_the_available_balance(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.set_leverage(2, SYM)
    with pytest.raises(ccxt.ExchangeError) as err:  # 1 BTC x 61837 / 2 > 10,000
        await fut.create_order(SYM, "market", "buy", 1)
    assert '"code":-2019' in str(err.value)
    await fut.create_order(SYM, "market", "buy", 0.3)  # 9,275 / 2 fits


@pytest.mark.asyncio
async def test_time_in_force_gtx_ioc_fok(fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    with pytest.raises(ccxt.InvalidOrder):  # post-only that would take: -5022
        await fut.create_order(SYM, "limit", "buy", 0.01, float(ASK0), {"timeInForce": "GTX"})
    resting = await fut.create_order(SYM, "limit", "buy", 0.01, 61000, {"timeInForce": "GTX"})
    assert resting["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder):  # 0.6 > 0.5 at the best ask: -5021
        await fut.create_order(SYM, "limit", "buy", 0.6, float(ASK0), {"timeInForce": "FOK"})
    ioc = await fut.create_order(SYM, "limit", "buy", 0.6, float(ASK0), {"timeInForce": "IOC"})
    assert (ioc["status"], ioc["filled"]) == ("expired", 0.5)


@pytest.mark.asyncio
async def test_positions_settings_and_hedge_mode(fx: FakeBinance,
                                                 fut: ccxt_pro.binanceusdm) -> None:
    await fut.load_markets()
    assert (await fut.fetch_position_mode(SYM))["hedged"] is False
    fx.futures.dual_side = True
    assert (await fut.fetch_position_mode(SYM))["hedged"] is True
    fx.futures.dual_side = False
    await fut.set_margin_mode("isolated", SYM)
    with pytest.raises(ccxt.MarginModeAlreadySet):  # -4046 "No need to change margin type."
        await fut.set_margin_mode("isolated", SYM)
    await fut.set_leverage(4, SYM)
    await fut.create_order(SYM, "market", "sell", 0.04)
    [pos] = await fut.fetch_positions([SYM])
    assert (pos["side"], pos["contracts"], pos["leverage"], pos["marginMode"]) == (
        "short", 0.04, 4, "isolated")
    # isolated short: (entry x amt - margin) / (amt - |amt| x mmr), margin = notional / 4
    entry = BID0
    want = (entry * D("-0.04") - entry * D("0.04") / 4) / (D("-0.04") * D("1.004"))
    assert abs(D(str(pos["liquidationPrice"])) - want) < D("0.01")


@pytest.mark.asyncio
async def test_funding_is_paid_by_longs_and_listed_once_per_settlement(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.create_order(SYM, "market", "buy", 0.01)
    fx.set_mark("BTCUSDT", "60000")
    fx.fund("0.0001")
    fx.fund("-0.0002")
    history = await fut.fetch_funding_history(SYM)
    assert [D(str(h["amount"])) for h in history] == [D("-0.06"), D("0.12")]
    assert len({h["id"] for h in history}) == 2
    premium = await fut.fetch_funding_rate(SYM)
    assert premium["markPrice"] == 60000


@pytest.mark.asyncio
async def test_a_mark_beyond_the_liquidation_price_liquidates(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.set_margin_mode("isolated", SYM)
    await fut.set_leverage(10, SYM)
    await fut.create_order(SYM, "market", "buy", 0.1)
    liq = fx.futures.liquidation_price("BTCUSDT")
    assert liq > 0
    fx.set_mark("BTCUSDT", liq + D("1"))
    assert position(fx)[0] == D("0.1")
    fx.set_mark("BTCUSDT", liq)
    assert position(fx)[0] == 0 and fx.futures.liquidations == [("BTCUSDT", D("0.1"), liq)]


@pytest.mark.asyncio
async def test_user_stream_reports_trades_orders_and_marks(
        fx: FakeBinance, fut: ccxt_pro.binanceusdm) -> None:
    await fut.load_markets()
    trades = asyncio.ensure_future(fut.watch_my_trades(SYM))
    marks = asyncio.ensure_future(fut.watch_mark_price(SYM))
    await asyncio.sleep(0.3)  # subscribed (the fake has no replay of what came before)
    order = await fut.create_order(SYM, "market", "sell", 0.01, None,
                                   {"clientOrderId": "td-x-1"})
    [trade] = await asyncio.wait_for(trades, 5)
    assert (trade["order"], trade["side"], trade["amount"]) == (order["id"], "sell", 0.01)
    assert trade["info"]["c"] == "td-x-1" and trade["fee"]["currency"] == "USDT"
    fx.set_mark("BTCUSDT", "61111")
    assert (await asyncio.wait_for(marks, 5))["markPrice"] == 61111
    assert not fx.unhandled
