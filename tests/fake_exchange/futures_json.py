"""Binance USDⓈ-M JSON: what the futures engine's orders, trades, positions and symbols look
like on the wire — REST rows, `ORDER_TRADE_UPDATE` and `ACCOUNT_UPDATE` position entries, the
`fapi` exchangeInfo symbol — rendered in one place so REST and websockets agree."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from .markets import SymbolSpec, fmt
from .models import ZERO, Fill, Order

if TYPE_CHECKING:
    from .futures import Position


def position_event(symbol: str, pos: Position, upnl: Decimal) -> dict[str, object]:
    return {"s": symbol, "pa": fmt(pos.amt), "ep": fmt(pos.entry), "bep": fmt(pos.entry),
            "cr": "0", "up": fmt(upnl), "mt": pos.margin_type, "iw": fmt(pos.isolated_wallet),
            "ps": "BOTH"}


def futures_order_json(order: Order, reduce_only: bool) -> dict[str, object]:
    """`/fapi/v1/order` (POST, GET, DELETE), openOrders and allOrders rows."""
    avg = order.cum_quote / order.executed_qty if order.executed_qty else ZERO
    return {
        "orderId": order.order_id, "symbol": order.symbol, "status": order.status,
        "clientOrderId": order.client_order_id, "price": fmt(order.price),
        "avgPrice": fmt(avg), "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty), "cumQty": fmt(order.executed_qty),
        "cumQuote": fmt(order.cum_quote), "timeInForce": order.time_in_force,
        "type": order.type, "reduceOnly": reduce_only, "closePosition": False,
        "side": order.side, "positionSide": "BOTH", "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": order.type,
        "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
        "time": order.time, "updateTime": order.update_time,
    }


def user_trade_json(f: Fill, realized: Decimal) -> dict[str, object]:
    """`GET /fapi/v1/userTrades` row."""
    return {
        "buyer": f.is_buyer, "commission": fmt(f.commission), "commissionAsset": "USDT",
        "id": f.trade_id, "maker": f.is_maker, "orderId": f.order_id, "price": fmt(f.price),
        "qty": fmt(f.qty), "quoteQty": fmt(f.quote_qty), "realizedPnl": fmt(realized),
        "side": "BUY" if f.is_buyer else "SELL", "positionSide": "BOTH", "symbol": f.symbol,
        "time": f.time,
    }


def order_trade_update(order: Order, exec_type: str, now: int, fill: Fill | None,
                       reduce_only: bool, realized: Decimal) -> dict[str, object]:
    avg = order.cum_quote / order.executed_qty if order.executed_qty else ZERO
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
        "s": order.symbol, "c": order.client_order_id, "S": order.side, "o": order.type,
        "f": order.time_in_force, "q": fmt(order.orig_qty), "p": fmt(order.price),
        "ap": fmt(avg), "sp": "0", "x": exec_type, "X": order.status, "i": order.order_id,
        "l": fmt(fill.qty if fill else ZERO), "z": fmt(order.executed_qty),
        "L": fmt(fill.price if fill else ZERO), "N": "USDT",
        "n": fmt(fill.commission if fill else ZERO), "T": fill.time if fill else now,
        "t": fill.trade_id if fill else 0, "b": "0", "a": "0",
        "m": fill.is_maker if fill else False, "R": reduce_only, "wt": "CONTRACT_PRICE",
        "ot": order.type, "ps": "BOTH", "cp": False, "rp": fmt(realized), "pP": False,
        "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}}


def futures_symbol_info(spec: SymbolSpec) -> dict[str, object]:
    """One `GET /fapi/v1/exchangeInfo` symbol: a USDT-margined perpetual."""
    return {
        "symbol": spec.symbol, "pair": spec.symbol, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base, "quoteAsset": spec.quote, "marginAsset": spec.quote,
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": ["PoW"],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(spec.min_price),
             "maxPrice": fmt(spec.max_price), "tickSize": fmt(spec.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fmt(spec.min_qty),
             "maxQty": fmt(spec.max_qty), "stepSize": fmt(spec.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(spec.min_qty),
             "maxQty": fmt(spec.market_max_qty), "stepSize": fmt(spec.step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": fmt(spec.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
