"""ccxt.pro against the fake's websockets: replayed real data, synthetic streams, user data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.pro as ccxt_pro
import pytest

from tests.fake_exchange import FakeBinance, eventually
from tests.fake_exchange.replay import DEFAULT_CAPTURE, load_capture

SYM = "BTC/USDT"
T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, timeout_s)


def captured(stream: str, n: int) -> list[dict[str, Any]]:
    messages, _ = load_capture(DEFAULT_CAPTURE)
    return [m.data for m in messages if m.stream == stream][:n]


@pytest.mark.asyncio
async def test_watch_trades_receives_replayed_real_trades(
    replay_fx: FakeBinance, replay_pro: ccxt_pro.binance
) -> None:
    first = asyncio.create_task(replay_pro.watch_trades(SYM))
    await eventually(lambda: replay_fx.subscribers("btcusdt@trade"), what="trade subscription")
    assert replay_fx.advance_trades(20) == 20
    await within(first)
    # watch_trades resolves once per burst; ccxt's own cache is where all of them collect
    await eventually(lambda: len(replay_pro.trades.get(SYM, [])) >= 20, what="20 trades")
    seen = {t["id"]: t for t in replay_pro.trades[SYM]}
    expected = captured("btcusdt@trade", 20)
    got = sorted(seen.values(), key=lambda t: int(t["id"]))
    assert [(t["id"], t["info"]["p"], t["info"]["q"], t["timestamp"]) for t in got] == [
        (str(e["t"]), e["p"], e["q"], e["T"]) for e in expected]
    assert got[0]["price"] == 61837.63 and got[0]["side"] == "sell"  # m=true: buyer is maker
    assert replay_fx.unhandled == []


@pytest.mark.asyncio
async def test_watch_bids_asks_forwards_captured_book_ticker(
    replay_fx: FakeBinance, replay_pro: ccxt_pro.binance
) -> None:
    task = asyncio.create_task(replay_pro.watch_bids_asks([SYM]))
    await eventually(lambda: replay_fx.subscribers("btcusdt@bookTicker"))
    first = captured("btcusdt@bookTicker", 1)[0]
    replay_fx.advance(50)
    ticker = (await within(task))[SYM]
    assert ticker["info"] == first  # the payload, field for field, as Binance sent it
    assert (ticker["bid"], ticker["ask"]) == (float(first["b"]), float(first["a"]))


@pytest.mark.asyncio
async def test_watch_order_book_syncs_snapshot_and_replayed_diffs(
    replay_fx: FakeBinance, replay_pro: ccxt_pro.binance
) -> None:
    task = asyncio.create_task(replay_pro.watch_order_book(SYM))
    await eventually(lambda: replay_fx.subscribers("btcusdt@depth@100ms"))
    await eventually(lambda: "GET /api/v3/depth" in replay_fx.requests, what="REST snapshot")
    replay_fx.advance(600)
    book = replay_fx.markets["BTCUSDT"].book
    await within(task)
    await eventually(lambda: replay_pro.orderbooks[SYM]["nonce"] == book.last_update_id,
                     what="ccxt's book caught up with every diff")
    ob = replay_pro.orderbooks[SYM]
    top = 20
    assert ob["bids"][:top] == [[float(p), float(q)] for p, q in book.sorted_bids()[:top]]
    assert ob["asks"][:top] == [[float(p), float(q)] for p, q in book.sorted_asks()[:top]]
    assert book.last_update_id > 50093239218  # moved past the capture's snapshot
    assert replay_fx.unhandled == []


@pytest.mark.asyncio
async def test_replay_moves_the_engine(replay_fx: FakeBinance,
                                       replay_pro: ccxt_pro.binance) -> None:
    """A market order fills against the replayed book at the replayed best ask."""
    replay_fx.advance(300)
    best_ask = replay_fx.markets["BTCUSDT"].book.best_ask()
    assert best_ask is not None
    order = await replay_pro.create_order(SYM, "market", "buy", 0.001)
    assert Decimal(order["info"]["fills"][0]["price"]) == best_ask[0]


@pytest.mark.asyncio
async def test_watch_ticker_synthetic(fx: FakeBinance, pro: ccxt_pro.binance) -> None:
    # this ccxt subscribes watch_ticker to <sym>@miniTicker (its options.watchTicker.name
    # "ticker" is lost on the way), so the default has no bid/ask; name="ticker" asks for
    # the full 24hrTicker
    mini = asyncio.create_task(pro.watch_ticker(SYM))
    await eventually(lambda: fx.subscribers("btcusdt@miniTicker"))
    full = asyncio.create_task(pro.watch_ticker("ETH/USDT", {"name": "ticker"}))
    await eventually(lambda: fx.subscribers("ethusdt@ticker"))
    fx.step(1)
    stats = fx.markets["BTCUSDT"].stats()
    ticker = await within(mini)
    assert ticker["last"] == float(str(stats["lastPrice"])) and ticker["bid"] is None
    eth = fx.markets["ETHUSDT"].stats()
    ticker = await within(full)
    assert ticker["last"] == float(str(eth["lastPrice"]))
    assert ticker["bid"] == float(str(eth["bidPrice"]))
    assert ticker["ask"] == float(str(eth["askPrice"]))
    assert fx.unhandled == []


@pytest.mark.asyncio
async def test_watch_orders_my_trades_and_balance_deliver_fills(
    fx: FakeBinance, pro: ccxt_pro.binance
) -> None:
    orders = asyncio.create_task(pro.watch_orders(SYM))
    mine = asyncio.create_task(pro.watch_my_trades(SYM))
    balance = asyncio.create_task(pro.watch_balance())
    await eventually(lambda: fx.user_subscribers() == 1, what="one user data subscription")
    resting = await pro.create_order(SYM, "limit", "buy", 0.3, 61800,
                                     {"clientOrderId": "ws-1"})
    seen = {o["clientOrderId"]: o for o in await within(orders)}
    assert seen["ws-1"]["status"] == "open" and seen["ws-1"]["id"] == resting["id"]
    fx.set_mid("BTCUSDT", "61799.995")  # crosses: fills 0.3 of the 0.5 level, as maker
    await within(mine)
    await eventually(lambda: pro.myTrades and pro.myTrades[-1]["order"] == resting["id"])
    t = pro.myTrades[-1]
    assert (t["price"], t["amount"], t["takerOrMaker"]) == (61800.0, 0.3, "maker")
    assert t["fee"] == {"cost": 0.0003, "currency": "BTC"}
    assert t["id"] == str(fx.trades()[-1]["id"])
    await eventually(lambda: pro.orders.hashmap[SYM][resting["id"]]["status"] == "closed")
    order = pro.orders.hashmap[SYM][resting["id"]]
    assert order["filled"] == 0.3 and order["clientOrderId"] == "ws-1"
    await within(balance)
    expected = fx.balances()
    await eventually(lambda: pro.balance["spot"]["BTC"]["free"] == 1.2997)
    assert pro.balance["spot"]["USDT"]["free"] == float(expected["USDT"]["free"])
    assert pro.balance["spot"]["USDT"]["used"] == 0


@pytest.mark.asyncio
async def test_cancel_event_keeps_the_orders_client_id(
    fx: FakeBinance, pro: ccxt_pro.binance
) -> None:
    orders = asyncio.create_task(pro.watch_orders(SYM))
    await eventually(lambda: fx.user_subscribers() == 1)
    placed = await pro.create_order(SYM, "limit", "sell", 0.1, 70000, {"clientOrderId": "c-1"})
    await within(orders)
    fx.cancel_order("BTCUSDT", client_order_id="c-1")  # operator cancel while client watches
    await eventually(lambda: pro.orders.hashmap[SYM][placed["id"]]["status"] == "canceled")
    assert pro.orders.hashmap[SYM][placed["id"]]["clientOrderId"] == "c-1"


@pytest.mark.asyncio
async def test_ws_drop_then_watch_again_reconnects(fx: FakeBinance,
                                                   pro: ccxt_pro.binance) -> None:
    trades = asyncio.create_task(pro.watch_trades(SYM))
    orders = asyncio.create_task(pro.watch_orders(SYM))
    await eventually(lambda: fx.subscribers("btcusdt@trade") and fx.user_subscribers())
    assert await fx.drop_websockets() == 2
    for task in (trades, orders):
        with pytest.raises(ccxt_pro.NetworkError):
            await within(task)
    # the next watch calls dial again, resubscribe and re-authenticate by themselves
    trades = asyncio.create_task(pro.watch_trades(SYM))
    orders = asyncio.create_task(pro.watch_orders(SYM))
    await eventually(lambda: fx.subscribers("btcusdt@trade") and fx.user_subscribers())
    fx.step(1)
    assert (await within(trades))[-1]["id"] == str(fx.markets["BTCUSDT"].tape.trades[-1]
                                                  .trade_id)
    await pro.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "after"})
    assert any(o["clientOrderId"] == "after" for o in await within(orders))


@pytest.mark.asyncio
async def test_user_stream_rejects_a_bad_signature(fx: FakeBinance) -> None:
    bad = ccxt_pro.binance({**fx.ccxt_config(), "apiKey": fx.api_key, "secret": "x" * 64})
    try:
        with pytest.raises(Exception) as err:
            await within(bad.watch_orders(SYM))
    finally:
        await bad.close()
    # ccxt 4.5.90 maps the ws-api -1022 to AuthenticationError, then trips over its own
    # cleanup (`del client.subscriptions["spot"]` twice) and raises KeyError('spot') with the
    # AuthenticationError as its context. Accept either, insist on the auth error.
    auth = err.value if isinstance(err.value, ccxt_pro.AuthenticationError) \
        else err.value.__context__
    assert isinstance(auth, ccxt_pro.AuthenticationError) and "-1022" in str(auth)
    assert fx.user_subscribers() == 0
