"""The fake's listed symbols: their filters, their `exchangeInfo` JSON and the filter checks.

A `SymbolSpec` is the single source of truth for one market. `exchange_info()` renders it in
the shape of spot `GET /api/v3/exchangeInfo` (ccxt's `parse_market` reads PRICE_FILTER,
LOT_SIZE, MARKET_LOT_SIZE and NOTIONAL from there), and `check_order()` applies the same
filters the way Binance does, raising `-1013 Filter failure: <NAME>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .errors import BinanceError, filter_failure


def fmt(value: Decimal, places: int = 8) -> str:
    """Binance renders every decimal with exactly 8 places (e.g. "0.01000000")."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    # Synthetic-book defaults: where the random walk starts and how deep each level is.
    start_mid: Decimal
    level_qty: Decimal
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    max_notional: Decimal = Decimal("9000000")
    market_max_qty: Decimal = Decimal("100")
    max_num_orders: int = 200

    def info(self) -> dict[str, object]:
        """One entry of exchangeInfo["symbols"], with Binance's field names and filter shapes."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            # ccxt's create_order refuses any type not listed here, before sending anything.
            "orderTypes": [
                "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt(Decimal(0)),
                    "maxQty": fmt(self.market_max_qty),
                    "stepSize": fmt(Decimal(0)),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.tick_size).to_integral_value() * self.tick_size

    def check_order(
        self, order_type: str, qty: Decimal | None, price: Decimal | None, ref_price: Decimal
    ) -> None:
        """Binance's filter order: PRICE_FILTER, LOT_SIZE/MARKET_LOT_SIZE, then NOTIONAL.

        `ref_price` is what NOTIONAL multiplies a MARKET quantity by (Binance uses the recent
        average price; the fake uses the current mid).
        """
        if price is not None:
            if price < self.min_price or price > self.max_price:
                raise filter_failure("PRICE_FILTER")
            if price % self.tick_size != 0:
                raise filter_failure("PRICE_FILTER")
        if qty is not None:
            if order_type == "MARKET":
                if qty > self.market_max_qty:
                    raise filter_failure("MARKET_LOT_SIZE")
            if qty < self.min_qty or qty > self.max_qty or qty % self.step_size != 0:
                raise filter_failure("LOT_SIZE")
            notional = qty * (price if price is not None else ref_price)
            if notional < self.min_notional:
                raise filter_failure("NOTIONAL")
            if order_type != "MARKET" and notional > self.max_notional:
                raise filter_failure("NOTIONAL")


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        symbol="BTCUSDT", base="BTC", quote="USDT",
        tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"), max_qty=Decimal("9000"), min_notional=Decimal("5"),
        start_mid=Decimal("61837.50"), level_qty=Decimal("0.5"),
    ),
    SymbolSpec(
        symbol="ETHUSDT", base="ETH", quote="USDT",
        tick_size=Decimal("0.01"), step_size=Decimal("0.0001"),
        min_qty=Decimal("0.0001"), max_qty=Decimal("9000"), min_notional=Decimal("5"),
        start_mid=Decimal("2600.00"), level_qty=Decimal("5"), market_max_qty=Decimal("2000"),
    ),
)

# The same symbols as USDⓈ-M perpetuals: Binance's futures grid (0.001 BTC, 0.01 ETH lots).
DEFAULT_FUTURES: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec(
        symbol="BTCUSDT", base="BTC", quote="USDT",
        tick_size=Decimal("0.01"), step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"), max_qty=Decimal("1000"), min_notional=Decimal("5"),
        start_mid=Decimal("61837.50"), level_qty=Decimal("0.5"), market_max_qty=Decimal("120"),
    ),
    "ETHUSDT": SymbolSpec(
        symbol="ETHUSDT", base="ETH", quote="USDT",
        tick_size=Decimal("0.01"), step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"), max_qty=Decimal("10000"), min_notional=Decimal("5"),
        start_mid=Decimal("2600.00"), level_qty=Decimal("5"), market_max_qty=Decimal("2000"),
    ),
}


def exchange_info(specs: dict[str, SymbolSpec], server_time_ms: int) -> dict[str, object]:
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [spec.info() for spec in specs.values()],
    }


def select_symbols(
    specs: dict[str, SymbolSpec], symbol: str | None, symbols_json: str | None
) -> list[SymbolSpec]:
    """Resolve Binance's `symbol=` / `symbols=["A","B"]` query params to specs (or all)."""
    import json

    if symbol is not None:
        if symbol not in specs:
            raise BinanceError(-1121, "Invalid symbol.")
        return [specs[symbol]]
    if symbols_json is not None:
        try:
            names = json.loads(symbols_json)
        except ValueError as exc:
            raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.") from exc
        if not isinstance(names, list) or any(n not in specs for n in names):
            raise BinanceError(-1121, "Invalid symbol.")
        return [specs[n] for n in names]
    return list(specs.values())
