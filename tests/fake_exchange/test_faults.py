"""Each injected fault, and each auth failure, as the ccxt exception class it becomes.

Class choices follow ccxt 4.5.90's binance.handle_errors + base http status table: 418 and
429 are raised as DDoSProtection before the body is read (RateLimitExceeded is a sibling,
not a parent); a 5xx without a JSON body falls through to ExchangeNotAvailable.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from tests.fake_exchange import FakeBinance, eventually
from tests.fake_exchange.conftest import client_config

SYM = "BTC/USDT"


@pytest.mark.asyncio
async def test_429_with_retry_after_then_recovers(fx: FakeBinance,
                                                  rest: ccxt_async.binance) -> None:
    await rest.load_markets()
    fx.faults.rate_limit("/api/v3/account", n=1, retry_after=7)
    with pytest.raises(ccxt_async.DDoSProtection, match="429"):
        await rest.fetch_balance()
    assert rest.last_response_headers["Retry-After"] == "7"
    assert (await rest.fetch_balance())["BTC"]["free"] == 1.0  # only the next one failed


@pytest.mark.asyncio
async def test_418_ban(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    await rest.load_markets()
    fx.faults.ban("/api/v3/ticker/24hr", n=2, retry_after=120)
    for _ in range(2):
        with pytest.raises(ccxt_async.DDoSProtection, match="418"):
            await rest.fetch_ticker(SYM)
    assert rest.last_response_headers["Retry-After"] == "120"
    await rest.fetch_ticker(SYM)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_from_the_edge_is_exchange_not_available(
    fx: FakeBinance, rest: ccxt_async.binance, status: int
) -> None:
    await rest.load_markets()
    fx.faults.server_error("/api/v3/depth", status=status)
    with pytest.raises(ccxt_async.ExchangeNotAvailable):
        await rest.fetch_order_book(SYM)


@pytest.mark.asyncio
async def test_5xx_with_a_binance_json_body_is_mapped_by_code(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    # -1001 "Internal error" maps to OperationFailed: a NetworkError handler would miss it
    await rest.load_markets()
    fx.faults.server_error("/api/v3/account", status=500,
                           body='{"code":-1001,"msg":"Internal error; unable to process your '
                                'request. Please try again."}')
    with pytest.raises(ccxt_async.OperationFailed) as err:
        await rest.fetch_balance()
    assert not isinstance(err.value, ccxt_async.NetworkError)


@pytest.mark.asyncio
async def test_slow_answer_is_request_timeout_and_is_not_processed(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    await rest.load_markets()
    rest.timeout = 200  # ms
    fx.faults.delay("/api/v3/order", seconds=2, method="POST", process=False)
    with pytest.raises(ccxt_async.RequestTimeout):
        await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "slow"})
    assert fx.order_post_count("slow") == 1
    assert fx.orders() == []  # the stalled handler died with its client


@pytest.mark.asyncio
async def test_timeout_on_a_create_that_actually_succeeded(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    await rest.load_markets()
    rest.timeout = 200
    fx.faults.delay("/api/v3/order", seconds=2, method="POST", process=True)
    with pytest.raises(ccxt_async.RequestTimeout):
        await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "ghost"})
    # the client saw a failure, but the order exists: it is found by the id the client chose
    found = await rest.fetch_order(None, SYM, {"origClientOrderId": "ghost"})
    assert found["status"] == "open" and found["clientOrderId"] == "ghost"
    assert [o["clientOrderId"] for o in await rest.fetch_open_orders(SYM)] == ["ghost"]
    assert fx.order_post_count("ghost") == 1
    assert [o["clientOrderId"] for o in fx.orders()] == ["ghost"]


@pytest.mark.asyncio
async def test_forced_order_rejects(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    await rest.load_markets()
    fx.faults.reject_orders(-2010)
    with pytest.raises(ccxt_async.InsufficientFunds):
        await rest.create_order(SYM, "market", "buy", 0.001)
    fx.faults.reject_orders(-1013)  # default message: "Filter failure: LOT_SIZE"
    with pytest.raises(ccxt_async.InvalidOrder):
        await rest.create_order(SYM, "market", "buy", 0.001)
    await rest.create_order(SYM, "market", "buy", 0.001)  # faults are one-shot
    assert len(fx.orders()) == 1


@pytest.mark.asyncio
async def test_bad_signature_is_authentication_error(fx: FakeBinance) -> None:
    ex = ccxt_async.binance({**client_config(fx), "secret": "0" * 64})
    try:
        with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
            await ex.fetch_balance()
    finally:
        await ex.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(("key", "code"), [("A" * 64, "-2015"), ("not-a-key!", "-2014")])
async def test_bad_api_key_is_authentication_error(fx: FakeBinance, key: str,
                                                   code: str) -> None:
    # a *fresh* client: after one successful private call ccxt turns -2015 into
    # DDoSProtection (options.hasAlreadyAuthenticatedSuccessfully, a temporary-ban heuristic)
    ex = ccxt_async.binance({**client_config(fx), "apiKey": key})
    try:
        with pytest.raises(ccxt_async.AuthenticationError, match=code):
            await ex.fetch_balance()
    finally:
        await ex.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("time_difference", [60_000, -5_000])
async def test_stale_or_future_timestamp_is_invalid_nonce(
    fx: FakeBinance, rest: ccxt_async.binance, time_difference: int
) -> None:
    await rest.load_markets()
    rest.options["timeDifference"] = time_difference  # ccxt's nonce() = now - this
    with pytest.raises(ccxt_async.InvalidNonce, match="-1021"):
        await rest.fetch_balance()


@pytest.mark.asyncio
async def test_server_clock_skew_is_invalid_nonce_too(fx: FakeBinance,
                                                      rest: ccxt_async.binance) -> None:
    await rest.load_markets()
    fx.clock_skew_ms = 20_000  # beyond ccxt's default recvWindow of 10 s
    with pytest.raises(ccxt_async.InvalidNonce):
        await rest.create_order(SYM, "market", "buy", 0.001)
    rest.options["timeDifference"] = -fx.clock_skew_ms  # what load_time_difference() does
    await rest.create_order(SYM, "market", "buy", 0.001)


@pytest.mark.asyncio
async def test_partition_after_a_create_places_the_order_and_cuts_the_client_off(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    """The create takes effect, its answer is lost, and nothing gets through until heal()."""
    await rest.load_markets()
    pro = ccxt_pro.binance(client_config(fx))
    try:
        orders = asyncio.create_task(pro.watch_orders(SYM))
        await eventually(lambda: fx.user_subscribers() == 1, what="user data subscription")
        fx.faults.partition_after("/api/v3/order", method="POST")
        with pytest.raises(ccxt_async.ExchangeNotAvailable):
            await rest.create_order(SYM, "limit", "buy", 0.01, 60000, {"clientOrderId": "p-1"})
        assert [o["clientOrderId"] for o in fx.orders()] == ["p-1"]  # it exists
        with pytest.raises(ccxt_pro.NetworkError):
            await asyncio.wait_for(orders, 5)  # the user stream died without its NEW report
        with pytest.raises(ccxt_async.ExchangeNotAvailable):
            await rest.fetch_order(None, SYM, {"origClientOrderId": "p-1"})
        with pytest.raises(ccxt_pro.NetworkError):
            await asyncio.wait_for(pro.watch_orders(SYM), 5)  # refused while partitioned
        assert fx.order_post_count("p-1") == 1
        assert ("GET", "/api/v3/order", "dropped") in fx.faults.fired
        fx.faults.heal()
        found = await rest.fetch_order(None, SYM, {"origClientOrderId": "p-1"})
        assert found["status"] == "open"
    finally:
        await pro.close()


@pytest.mark.asyncio
async def test_corrupted_user_trade_reaches_the_socket_but_not_rest(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    await rest.load_markets()
    pro = ccxt_pro.binance(client_config(fx))
    try:
        mine = asyncio.create_task(pro.watch_my_trades(SYM))
        await eventually(lambda: fx.user_subscribers() == 1, what="user data subscription")
        fx.faults.corrupt_user_trades({"L": "0.00000000", "n": "NaN"})
        await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "bad"})
        trade = (await asyncio.wait_for(mine, 5))[-1]
        assert trade["price"] == 0 and trade["fee"]["cost"] != trade["fee"]["cost"]  # NaN
        good = (await rest.fetch_my_trades(SYM))[-1]
        assert good["id"] == trade["id"] and good["price"] > 0
    finally:
        await pro.close()


@pytest.mark.asyncio
async def test_fees_can_be_paid_in_a_third_asset() -> None:
    async with FakeBinance(seed=1, fee_asset=("BNB", "500"),
                           balances={"USDT": "100000", "BTC": "1", "BNB": "1"}) as fx:
        ex = ccxt_async.binance(client_config(fx))
        try:
            await ex.create_order(SYM, "market", "buy", 0.01)
            trade = (await ex.fetch_my_trades(SYM))[-1]
        finally:
            await ex.close()
        assert trade["fee"]["currency"] == "BNB" and trade["fee"]["cost"] > 0
        assert fx.balances()["BTC"]["free"] == "1.01"  # the whole fill, no base fee
        assert Decimal(fx.balances()["BNB"]["free"]) == 1 - Decimal(str(trade["fee"]["cost"]))


@pytest.mark.asyncio
async def test_a_200_that_is_not_an_order_reaches_ccxt_as_such(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    """A 200 with an HTML page parses to an order without an id; a number where ccxt expects
    one (`"abc"`) makes its parser raise ValueError. Neither request took effect."""
    await rest.load_markets()
    fx.faults.reply("/api/v3/order", "<html><body>maintenance</body></html>", method="POST",
                    content_type="text/html")
    order = await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "h"})
    assert order["id"] is None
    fx.faults.reply("/api/v3/order", '{"symbol":"BTCUSDT","status":"FILLED","executedQty":"abc"}',
                    method="POST")
    with pytest.raises(ValueError, match="abc"):
        await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "v"})
    assert fx.orders() == [] and fx.order_post_count("h") == fx.order_post_count("v") == 1


@pytest.mark.asyncio
async def test_a_handled_request_can_answer_garbage_or_a_truncated_body(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    """`handle`: the order is placed and only its answer is replaced; `truncate`: the real
    answer cut short (not JSON any more)."""
    await rest.load_markets()
    fx.faults.reply("/api/v3/order", "[1, 2]", method="POST", handle=True)
    await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "g"})
    fx.faults.truncate("/api/v3/order", 20, method="POST")
    cut = await rest.create_order(SYM, "market", "buy", 0.001, None, {"clientOrderId": "t"})
    assert cut["id"] is None and len(cut["info"]) == 20
    assert [o["clientOrderId"] for o in fx.orders()] == ["g", "t"]
    assert [o["status"] for o in fx.orders()] == ["FILLED", "FILLED"]
