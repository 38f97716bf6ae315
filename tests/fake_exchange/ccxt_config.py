"""The ccxt settings that point an unmodified `binance` client at the fake.

ccxt deep-merges a constructor config into its own `describe()`, so every `urls["api"]` key we
do NOT override keeps pointing at production. `ccxt_config()` therefore overrides all of them
(`test_config.py` walks ccxt's own dict to prove none is left out), mapping each REST section
to the same path it has on Binance so anything unexpected shows up in `server.unhandled` under
a recognisable name.

Websocket paths keep one quirk of production: ccxt's `is_spot_url()` decides that a stream
carries spot data by finding "/stream" in the URL (in production it matches the host
`//stream.binance.com`). With a loopback host the spot path itself must contain "/stream",
hence `<ws_base>/stream/ws`; without it ccxt would look trades and books up as contracts.
"""

from __future__ import annotations

from typing import Any


def api_urls(http_base: str, ws_base: str) -> dict[str, Any]:
    h = http_base.rstrip("/")
    w = ws_base.rstrip("/")
    return {
        # spot REST, and the fapi sections below (futures.py): what the fake implements
        "public": f"{h}/api/v3",
        "private": f"{h}/api/v3",
        "v1": f"{h}/api/v1",
        # everything below exists so nothing can reach the internet; all of it is unhandled
        "sapi": f"{h}/sapi/v1",
        "sapiV2": f"{h}/sapi/v2",
        "sapiV3": f"{h}/sapi/v3",
        "sapiV4": f"{h}/sapi/v4",
        "fapiPublic": f"{h}/fapi/v1",
        "fapiPublicV2": f"{h}/fapi/v2",
        "fapiPublicV3": f"{h}/fapi/v3",
        "fapiPrivate": f"{h}/fapi/v1",
        "fapiPrivateV2": f"{h}/fapi/v2",
        "fapiPrivateV3": f"{h}/fapi/v3",
        # production serves both under /futures/data on two hosts; keep them apart here
        "fapiData": f"{h}/fapi-data/futures/data",
        "dapiPublic": f"{h}/dapi/v1",
        "dapiPrivate": f"{h}/dapi/v1",
        "dapiPrivateV2": f"{h}/dapi/v2",
        "dapiData": f"{h}/dapi-data/futures/data",
        "eapiPublic": f"{h}/eapi/v1",
        "eapiPrivate": f"{h}/eapi/v1",
        "papi": f"{h}/papi/v1",
        "papiV2": f"{h}/papi/v2",
        "ws": {
            "spot": f"{w}/stream/ws",
            "margin": f"{w}/stream/ws",
            "linear": f"{w}/fstream/ws",
            "inverse": f"{w}/dstream/ws",
            "stock": f"{w}/nbstream/equity/ws",
            "option": f"{w}/fstream/public/ws",
            "optionMarket": f"{w}/fstream/market/ws",
            "optionPrivate": f"{w}/fstream/private/ws",
            "papi": f"{w}/fstream/pm/ws",
            "ws-api": {
                "spot": f"{w}/ws-api/v3",
                "linear": f"{w}/ws-fapi/v1",
                "inverse": f"{w}/ws-dapi/v1",
            },
        },
    }


def ccxt_options() -> dict[str, Any]:
    return {
        # Spot is ccxt's default already; pinning it keeps watch_*/fetch_* from resolving to
        # linear when a daemon config sets defaultSubType.
        "defaultType": "spot",
        # load_markets() otherwise also GETs fapi + dapi exchangeInfo (default types are
        # spot, linear, inverse).
        "fetchMarkets": {"types": ["spot"]},
        # with keys set, load_markets() otherwise GETs sapi/v1/capital/config/getall ...
        "fetchCurrencies": False,
        # ... and sapi/v1/margin/allPairs + margin/isolated/allPairs.
        "fetchMargins": False,
        # a daemon reconciling after a restart asks for all open orders without a symbol;
        # ccxt refuses that unless this warning is acknowledged.
        "fetchOpenOrders": {"warnWithoutSymbol": False},
    }


def futures_options() -> dict[str, Any]:
    """For `binanceusdm`: USDⓈ-M perpetuals only (its own default), nothing spot or margin."""
    return {
        "defaultType": "swap",
        "fetchMarkets": {"types": ["linear"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "fetchOpenOrders": {"warnWithoutSymbol": False},
    }


def ccxt_config(http_base: str, ws_base: str, futures: bool = False) -> dict[str, Any]:
    """`{"urls": {"api": ...}, "options": ...}` to merge into a ccxt binance (or, `futures`,
    binanceusdm) constructor config. The fapi sections point at the fake's futures API.

    Plain JSON-able dicts so the daemon can carry them as `exchange.api_urls` /
    `exchange.options` in its config file.
    """
    return {"urls": {"api": api_urls(http_base, ws_base)},
            "options": futures_options() if futures else ccxt_options()}
