"""Rate limits (HTTP 429/418) against the fake Binance: the delay is the failing response's own
Retry-After, and while it lasts the broker neither creates orders nor polls the venue."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import ccxt
import pytest

from daemon.config import ExchangeConfig
from daemon.ops.credentials import Credentials
from daemon.venues.base import BrokerError
from daemon.venues.ccxt.client import make_exchange, retry_after_s
from tests.fake_exchange import FakeBinance
from tests.fake_exchange.errors import BinanceError
from tests.fake_exchange.faults import RATE_LIMIT_MSG, HttpFault
from tests.support.ccxt_venue import SYM, Venue, venue


def limit_below(v: Venue) -> str:
    mid = v.fx.markets["BTCUSDT"].book.mid()
    assert mid is not None
    return str((mid * Decimal("0.98")).quantize(Decimal("0.01")))


def arrivals(v: Venue, method: str, path: str, after: float) -> list[float]:
    return [t for t, m, p in v.fx.request_log if (m, p) == (method, path) and t > after]


def rate_limit_time(v: Venue) -> float:
    """When the venue answered the (one) 429 to an order."""
    return [t for t, m, p in v.fx.request_log if (m, p) == ("POST", "/api/v3/order")][-1]


async def rate_limited_submit(v: Venue, retry_after: int) -> BrokerError:
    v.fx.faults.rate_limit("/api/v3/order", method="POST", retry_after=retry_after)
    with pytest.raises(BrokerError) as err:
        await v.broker.submit(v.approve())
    return err.value


@pytest.mark.asyncio
async def test_429_on_create_reports_that_responses_retry_after() -> None:
    async with venue() as v:
        err = await rate_limited_submit(v, retry_after=7)
        assert err.reason == "rate_limited"
        assert err.retry_after_s is not None and 6.5 < err.retry_after_s <= 7


@pytest.mark.asyncio
async def test_418_ban_reports_its_retry_after_and_a_bare_429_the_default() -> None:
    async with venue() as v:
        v.fx.faults.ban("/api/v3/order", method="POST", retry_after=120)
        with pytest.raises(BrokerError) as err:
            await v.broker.submit(v.approve())
        assert err.value.retry_after_s is not None and 119 < err.value.retry_after_s <= 120
    async with venue() as v:
        body = BinanceError(-1003, RATE_LIMIT_MSG, 429).json()
        v.fx.faults.add(HttpFault("/api/v3/order", "POST", 1, 429, body, retry_after=None))
        with pytest.raises(BrokerError) as err:
            await v.broker.submit(v.approve())
        assert err.value.retry_after_s is not None and 9 < err.value.retry_after_s <= 10


@pytest.mark.asyncio
async def test_retry_after_is_the_failed_responses_not_the_clients_latest() -> None:
    """ccxt keeps one `last_response_headers` per client: any later (or concurrent) request
    replaces it. The delay must come with the exception of the response that carried it."""
    async with FakeBinance(seed=1) as fx:
        urls, options = fx.ccxt_config()["urls"]["api"], fx.ccxt_config()["options"]
        ex = make_exchange(ExchangeConfig(api_urls=urls, options=options),
                           Credentials(fx.api_key, fx.api_secret, "", "test"))
        try:
            await ex.load_markets()
            fx.faults.rate_limit("/api/v3/account", retry_after=7)
            with pytest.raises(ccxt.DDoSProtection) as err:
                await ex.fetch_balance()
            await ex.fetch_time()  # another request answers without Retry-After
            assert "Retry-After" not in (ex.last_response_headers or {})
            assert retry_after_s(err.value) == 7.0
        finally:
            await ex.close()


@pytest.mark.asyncio
async def test_during_a_backoff_submit_refuses_without_sending() -> None:
    async with venue() as v:
        await rate_limited_submit(v, retry_after=5)
        posts = v.fx.requests.count("POST /api/v3/order")
        with pytest.raises(BrokerError) as err:
            await v.broker.submit(v.approve())
        assert err.value.reason == "rate_limited"
        assert err.value.retry_after_s is not None and 0 < err.value.retry_after_s < 5
        assert v.fx.requests.count("POST /api/v3/order") == posts


@pytest.mark.asyncio
async def test_polls_wait_out_a_backoff_and_then_resume() -> None:
    """Steps: a resting order is polled every 0.2 s; an order create gets a 429 with
    Retry-After 2; no poll reaches the venue until the 2 s are over, then polling resumes."""
    async with venue(run=True, fill_poll_s=0.2) as v:
        await v.broker.submit(v.approve(limit=limit_below(v)))
        await v.wait(lambda: arrivals(v, "GET", "/api/v3/order", 0), "a first poll")
        await rate_limited_submit(v, retry_after=2)
        limited = rate_limit_time(v)
        await v.wait(lambda: arrivals(v, "GET", "/api/v3/order", limited + 2), "polls resume")
        # (a poll already on its way when the 429 came back may land just after it)
        during = [(m, p) for t, m, p in v.fx.request_log if limited + 0.3 < t < limited + 1.9]
        assert during == []  # nothing at all from the broker while backing off


@pytest.mark.asyncio
async def test_a_flatten_cancel_goes_out_during_a_backoff_and_others_wait() -> None:
    async with venue() as v:
        first = v.approve(limit=limit_below(v))
        second = v.approve(limit=limit_below(v))
        for order in (first, second):
            await v.broker.submit(order)
        await rate_limited_submit(v, retry_after=2)
        limited = rate_limit_time(v)
        await v.broker.cancel(first.client_order_id, SYM)  # urgent: a flatten's
        assert arrivals(v, "DELETE", "/api/v3/order", limited)[0] < limited + 1
        started = time.monotonic()
        await asyncio.wait_for(v.broker.cancel(second.client_order_id, SYM, urgent=False), 5)
        assert arrivals(v, "DELETE", "/api/v3/order", limited)[1] >= limited + 1.9
        assert time.monotonic() - started > 1
        await v.settled()
        assert v.of(first.client_order_id)[-1] == v.of(second.client_order_id)[-1] == \
            "OrderCancelled"
