"""ccxt config completeness, load_markets, and the public REST endpoints ccxt reads."""

from __future__ import annotations

import json
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from tests.fake_exchange import FakeBinance, ccxt_config


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_config_overrides_every_ccxt_url_and_is_plain_json() -> None:
    cfg = ccxt_config("http://127.0.0.1:1", "ws://127.0.0.1:1")
    assert json.loads(json.dumps(cfg)) == cfg
    ours = _leaves(cfg["urls"]["api"])
    # ccxt.pro's describe() is a superset of the REST class's: check against both
    for cls in (ccxt_async.binance, ccxt_pro.binance):
        theirs = _leaves(cls().urls["api"])
        assert set(theirs) <= set(ours), set(theirs) - set(ours)
    # and the merged client really ends up with nothing but loopback
    merged = _leaves(ccxt_pro.binance(cfg).urls["api"])
    bad = {k: v for k, v in merged.items() if "127.0.0.1" not in v}
    assert bad == {}


@pytest.mark.asyncio
async def test_load_markets_precision_limits_and_only_spot_exchange_info(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    markets = await rest.load_markets()
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["type"] == "spot"
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
    assert btc["limits"]["cost"]["min"] == 5.0
    assert markets["ETH/USDT"]["precision"]["amount"] == 0.0001
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    # with keys set ccxt would also call sapi capital/margin endpoints and f/dapi exchangeInfo
    assert fx.requests == ["GET /api/v3/exchangeInfo"]
    assert fx.unhandled == []


@pytest.mark.asyncio
async def test_public_market_data(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    fx.step(3)  # a few synthetic trades on the tape
    book = await rest.fetch_order_book("BTC/USDT", limit=5)
    fx_book = fx.markets["BTCUSDT"].book
    assert book["nonce"] == fx_book.last_update_id
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    ticker = await rest.fetch_ticker("BTC/USDT")
    assert ticker["bid"] == float(fx_book.sorted_bids()[0][0])
    assert ticker["ask"] == float(fx_book.sorted_asks()[0][0])
    assert ticker["last"] == float(fx.markets["BTCUSDT"].tape.trades[-1].price)
    bidask = await rest.fetch_bids_asks(["BTC/USDT"])
    assert bidask["BTC/USDT"]["bid"] == ticker["bid"]
    trades = await rest.fetch_trades("BTC/USDT")
    assert [t["id"] for t in trades] == [str(t.trade_id) for t in
                                          fx.markets["BTCUSDT"].tape.trades]
    ohlcv = await rest.fetch_ohlcv("BTC/USDT", "1m")
    assert sum(c[5] for c in ohlcv) == pytest.approx(
        float(sum(t.qty for t in fx.markets["BTCUSDT"].tape.trades)))
    assert abs(await rest.fetch_time() - fx.now_ms()) < 5_000
    assert fx.unhandled == []


@pytest.mark.asyncio
async def test_unimplemented_endpoint_is_recorded_and_binance_shaped(
    fx: FakeBinance, rest: ccxt_async.binance
) -> None:
    with pytest.raises(ccxt_async.BaseError) as err:
        await rest.sapiGetAccountStatus()
    assert '"code":-1000' in str(err.value)
    assert fx.unhandled == ["GET /sapi/v1/account/status"]


@pytest.mark.asyncio
async def test_random_walk_is_deterministic_per_seed() -> None:
    async def run(seed: int) -> list[str]:
        async with FakeBinance(seed=seed) as server:
            server.step(20)
            return [f"{t.price}:{t.qty}" for t in server.markets["BTCUSDT"].tape.trades]

    assert await run(3) == await run(3)
    assert await run(3) != await run(4)
