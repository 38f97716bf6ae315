"""Fixtures: a fresh fake per test, and unmodified ccxt clients (REST and pro) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest_asyncio

from tests.fake_exchange import FakeBinance

SEED = 7


def client_config(fx: FakeBinance) -> dict[str, object]:
    # ccxt's client-side throttle (50 ms x endpoint weight; 80 for openOrders without a
    # symbol) would only slow the tests down; the fake has no rate limit of its own.
    return {**fx.ccxt_config(), **fx.ccxt_credentials(), "enableRateLimit": False}


@pytest_asyncio.fixture
async def fx() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(seed=SEED) as server:
        yield server


@pytest_asyncio.fixture
async def replay_fx() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(seed=SEED, replay=True) as server:
        yield server


@pytest_asyncio.fixture
async def rest(fx: FakeBinance) -> AsyncIterator[ccxt_async.binance]:
    exchange = ccxt_async.binance(client_config(fx))
    try:
        yield exchange
    finally:
        await exchange.close()


@pytest_asyncio.fixture
async def pro(fx: FakeBinance) -> AsyncIterator[ccxt_pro.binance]:
    exchange = ccxt_pro.binance(client_config(fx))
    try:
        yield exchange
    finally:
        await exchange.close()


@pytest_asyncio.fixture
async def replay_pro(replay_fx: FakeBinance) -> AsyncIterator[ccxt_pro.binance]:
    exchange = ccxt_pro.binance(client_config(replay_fx))
    try:
        yield exchange
    finally:
        await exchange.close()
