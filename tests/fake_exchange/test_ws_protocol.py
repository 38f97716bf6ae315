"""The websocket wire protocol itself, checked with a plain aiohttp client.

ccxt.pro only uses raw `/ws/<n>` + SUBSCRIBE and the ws-api; these cover the other shapes
(combined `/stream?streams=`, streams in the path, listenKey streams) and prove the replay
forwards the captured text byte for byte.
"""

from __future__ import annotations

import gzip
import json

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.fake_exchange import FakeBinance, eventually
from tests.fake_exchange.replay import DEFAULT_CAPTURE


def capture_lines(stream: str, n: int) -> list[str]:
    out = []
    with gzip.open(DEFAULT_CAPTURE, "rt", encoding="utf-8") as fh:
        for line in fh:
            text = line.rstrip("\n").split(" ", 1)[1]
            if text.startswith('{"stream":"' + stream + '"'):
                out.append(text)
                if len(out) == n:
                    break
    return out


@pytest.mark.asyncio
async def test_combined_stream_gets_the_captured_envelopes_byte_for_byte(
    replay_fx: FakeBinance,
) -> None:
    url = f"{replay_fx.ws_base}/stream/stream?streams=btcusdt@trade/btcusdt@bookTicker"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await eventually(lambda: replay_fx.subscribers("btcusdt@trade"))
        replay_fx.advance_trades(3)
        trades: list[str] = []
        tickers: list[str] = []
        while len(trades) < 3:
            text = await ws.receive_str(timeout=5)
            (trades if text.startswith('{"stream":"btcusdt@trade"') else tickers).append(text)
    assert trades == capture_lines("btcusdt@trade", 3)
    assert tickers and tickers == capture_lines("btcusdt@bookTicker", len(tickers))


@pytest.mark.asyncio
async def test_raw_stream_in_path_gets_the_bare_payload(replay_fx: FakeBinance) -> None:
    url = f"{replay_fx.ws_base}/stream/ws/btcusdt@trade"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await eventually(lambda: replay_fx.subscribers("btcusdt@trade"))
        replay_fx.advance_trades(1)
        raw = await ws.receive_str(timeout=5)
    line = capture_lines("btcusdt@trade", 1)[0]
    assert line == '{"stream":"btcusdt@trade","data":' + raw + "}"


@pytest.mark.asyncio
async def test_subscribe_protocol_and_unknown_streams(fx: FakeBinance) -> None:
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{fx.ws_base}/stream/ws/0") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth"], "id": 4})
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 4}
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 5})
        assert await ws.receive_json(timeout=5) == {"result": ["ethusdt@depth"], "id": 5}
        fx.step(1, "ETHUSDT")
        diff = await ws.receive_json(timeout=5)
        assert diff["e"] == "depthUpdate" and diff["u"] == fx.markets["ETHUSDT"].book \
            .last_update_id
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 6})
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 6}
    assert fx.unhandled == ["WS SUBSCRIBE btcusdt@kline_1m"]


@pytest.mark.asyncio
async def test_unknown_ws_path_is_refused_and_recorded(fx: FakeBinance) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"{fx.ws_base}/fstream/ws/0")
    assert fx.unhandled == ["WS /fstream/ws/0"]


@pytest.mark.asyncio
async def test_legacy_listen_key_stream(fx: FakeBinance, rest: ccxt_async.binance) -> None:
    headers = {"X-MBX-APIKEY": fx.api_key}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fx.http_base}/api/v3/userDataStream",
                                headers=headers) as resp:
            key = (await resp.json())["listenKey"]
        async with session.post(f"{fx.http_base}/api/v3/userDataStream") as resp:
            assert resp.status == 401 and (await resp.json())["code"] == -2014
        async with session.ws_connect(f"{fx.ws_base}/stream/ws/{key}") as ws:
            await eventually(lambda: fx.user_subscribers() == 1)
            await rest.create_order("BTC/USDT", "market", "buy", 0.001, None,
                                    {"clientOrderId": "lk-1"})
            events = [json.loads(await ws.receive_str(timeout=5)) for _ in range(3)]
    assert [(e["e"], e.get("x")) for e in events] == [
        ("executionReport", "NEW"), ("executionReport", "TRADE"),
        ("outboundAccountPosition", None)]
    trade = events[1]
    assert (trade["c"], trade["X"], trade["l"], trade["N"]) == ("lk-1", "FILLED",
                                                                "0.00100000", "BTC")
    assert trade["t"] == fx.trades()[0]["id"]
