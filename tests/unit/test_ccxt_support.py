"""ccxt facts the broker relies on: the exception tree, market conversion, the data filter."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import ccxt
import msgspec
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from daemon.config import ConfigError, ExchangeConfig
from daemon.model import MarketKind
from daemon.ops.metrics import Metrics
from daemon.venues.ccxt.client import (
    ErrorKind,
    MalformedReply,
    classify,
    error_label,
    instrument_from_market,
    make_exchange,
)
from daemon.venues.ccxt.feed import TradeFilter
from daemon.venues.ccxt.startup import check_live_markets


@pytest.mark.parametrize(("err", "kind"), [
    (ccxt.AuthenticationError("x"), ErrorKind.AUTH),
    (ccxt.PermissionDenied("x"), ErrorKind.AUTH),
    (ccxt.InsufficientFunds("x"), ErrorKind.INSUFFICIENT_FUNDS),
    (ccxt.OrderNotFound("x"), ErrorKind.ORDER_NOT_FOUND),  # a subclass of InvalidOrder
    (ccxt.InvalidOrder("x"), ErrorKind.INVALID_ORDER),
    (ccxt.BadRequest("Filter failure: NOTIONAL"), ErrorKind.INVALID_ORDER),
    (ccxt.DDoSProtection("429"), ErrorKind.RATE_LIMIT),  # siblings, both rate limits
    (ccxt.RateLimitExceeded("x"), ErrorKind.RATE_LIMIT),
    (ccxt.RequestTimeout("x"), ErrorKind.AMBIGUOUS),
    (ccxt.ExchangeNotAvailable("503"), ErrorKind.AMBIGUOUS),
    (ccxt.OperationFailed("5xx with a Binance body"), ErrorKind.AMBIGUOUS),
    (ccxt.BadResponse("x"), ErrorKind.AMBIGUOUS),
    (ccxt.ExchangeError("x"), ErrorKind.REJECTED),
    # not ccxt's: its parser choking on a 200 ("abc" for a quantity), or an answer that parsed
    # but is not the order asked about
    (ValueError("invalid literal for int() with base 10: 'abc'"), ErrorKind.MALFORMED),
    (TypeError("'str' object is not a mapping"), ErrorKind.MALFORMED),
    (MalformedReply("no venue order id"), ErrorKind.MALFORMED),
])
def test_errors_follow_ccxts_real_tree(err: Exception, kind: ErrorKind) -> None:
    assert classify(err) is kind


def test_error_label_is_the_ccxt_class_name_or_malformed_reply() -> None:
    assert error_label(ccxt.DDoSProtection("x")) == "DDoSProtection"
    assert error_label(KeyError("x")) == error_label(MalformedReply("x")) == "MalformedReply"


MARKET = {"symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "spot": True,
          "active": True, "precision": {"price": 0.01, "amount": 1e-05},
          "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0}}}


def test_spot_market_becomes_a_long_only_instrument_on_the_venue_grid() -> None:
    market = MARKET
    inst = instrument_from_market(market, TICK_SIZE)
    assert inst.kind is MarketKind.SPOT
    assert (inst.price_increment, inst.size_increment) == (D("0.01"), D("0.00001"))
    assert (inst.min_qty, inst.max_qty, inst.min_notional) == (D("0.00001"), D(9000), D(5))
    digits = {**market, "precision": {"price": 2, "amount": 5}}
    assert instrument_from_market(digits, DECIMAL_PLACES).size_increment == D("0.00001")


def trade(i: int, price: float, amount: float = 0.1) -> dict[str, object]:
    return {"id": str(i), "price": price, "amount": amount, "timestamp": 1_000 + i}


def test_bad_trades_are_dropped_and_counted_and_gaps_reported() -> None:
    metrics = Metrics(["BTC/USDT"])
    f = TradeFilter("BTC/USDT", max_jump_bps=500, metrics=metrics)
    ticks, gap = f.accept([trade(1, 100.0), trade(2, -1.0), trade(3, float("nan")),
                           trade(4, 100.5, 0.0), trade(2, 100.2), trade(5, 100.1),
                           trade(5, 100.1), trade(4, 100.0), trade(6, 150.0),
                           trade(9, 100.2), {"id": "10", "price": "x"}])
    assert [t.trade_id for t in ticks] == [1, 5, 9]
    assert gap  # 5 -> 9 skipped trades the venue did send
    dropped = {s.labels["reason"]: s.value for m in metrics.registry.collect()
               if m.name == "tradingd_market_data_dropped" for s in m.samples
               if s.name.endswith("_total") and s.value}
    assert dropped == {"bad_price": 2, "bad_size": 1, "out_of_order": 2, "duplicate": 1,
                       "price_jump": 1, "malformed": 1}


def test_sandbox_points_ccxt_at_the_venues_testnet() -> None:
    """`exchange.sandbox = true` is ccxt's own sandbox mode: Binance's testnet URLs, not a
    copy of them here. No request is made."""
    live = make_exchange(ExchangeConfig(), None)
    test = make_exchange(ExchangeConfig(sandbox=True), None)
    try:
        assert "testnet.binance.vision" not in str(live.urls["api"])
        assert test.urls["api"]["public"].startswith("https://testnet.binance.vision/")
        assert test.urls["api"]["private"].startswith("https://testnet.binance.vision/")
    finally:
        asyncio.run(_close(live, test))


async def _close(*exchanges: Any) -> None:
    for ex in exchanges:
        await ex.close()


def test_live_mode_refuses_spot_and_swaps_together() -> None:
    spot = instrument_from_market(MARKET, TICK_SIZE)
    swap = msgspec.structs.replace(spot, symbol="BTC/USDT:USDT", kind=MarketKind.MARGIN)
    check_live_markets({spot.symbol: spot})  # spot is fine
    check_live_markets({swap.symbol: swap})  # and so are swaps
    with pytest.raises(ConfigError, match=r"^market\.instruments: live mode trades either spot "
                                          r"or swap markets, not both"):
        check_live_markets({spot.symbol: spot, swap.symbol: swap})


@pytest.mark.parametrize(("code", "kind"), [
    (-2019, ErrorKind.INSUFFICIENT_FUNDS), (-2022, ErrorKind.INVALID_ORDER),
    (-4164, ErrorKind.INVALID_ORDER), (-1234, ErrorKind.REJECTED)])
def test_plain_exchange_errors_are_classified_by_the_venues_code(code: int,
                                                                 kind: ErrorKind) -> None:
    """ccxt maps Binance's futures codes to their classes only on production hosts; elsewhere
    they arrive as a plain ExchangeError carrying the body."""
    err = ccxt.ExchangeError(f'binanceusdm {{"code":{code},"msg":"whatever"}}')
    assert classify(err) is kind
    # a subclass keeps its own meaning whatever the code
    assert classify(ccxt.InvalidOrder('binanceusdm {"code":-2019}')) is ErrorKind.INVALID_ORDER
