"""USDⓈ-M futures REST (`/fapi/...`): the endpoints `ccxt.binanceusdm` calls, on `FuturesEngine`.

Public: ping, time, exchangeInfo, depth, trades, aggTrades, klines, ticker/bookTicker,
ticker/price, premiumIndex (mark price, funding rate). Signed: order (POST/GET/DELETE,
reduceOnly, GTC/IOC/FOK/GTX), openOrders, allOrders, userTrades, v2/v3 account and balance,
v2/v3 positionRisk, leverageBracket, leverage, marginType, positionSide/dual, income;
listenKey (API key only). The same dispatcher as spot (`http_routes.RestApi`) serves them, so
fault injection, signatures and `unhandled` work the same.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from . import errors
from .errors import BinanceError
from .futures import MAINT_MARGIN_RATE, FuturesEngine
from .futures_json import futures_order_json, futures_symbol_info, user_trade_json
from .http_routes import Params, RestApi, Routes, _dec, _int, _req
from .markets import fmt, select_symbols
from .models import Order


def _eng(api: RestApi) -> FuturesEngine:
    return api.fx.futures


def _symbol(api: RestApi, p: Params) -> str:
    symbol = _req(p, "symbol")
    if symbol not in _eng(api).specs:
        raise errors.invalid_symbol()
    return symbol


# --- public ------------------------------------------------------------------------------
def exchange_info(api: RestApi, p: Params) -> object:
    eng = _eng(api)
    return {"timezone": "UTC", "serverTime": api.fx.now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [], "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True,
                        "autoAssetExchange": "-10000"}],
            "symbols": [futures_symbol_info(s) for s in eng.specs.values()]}


def premium_index(api: RestApi, p: Params) -> object:
    eng, fx = _eng(api), api.fx
    def row(symbol: str) -> dict[str, object]:
        mark = eng.mark(symbol)
        return {"symbol": symbol, "markPrice": fmt(mark), "indexPrice": fmt(mark),
                "estimatedSettlePrice": fmt(mark), "lastFundingRate": fmt(eng.funding_rate),
                "interestRate": "0.00010000", "nextFundingTime": fx.next_funding_ms(),
                "time": fx.now_ms()}
    if "symbol" in p:
        return row(_symbol(api, p))
    return [row(s) for s in eng.specs]


def ticker_price(api: RestApi, p: Params) -> object:
    specs = select_symbols(_eng(api).specs, p.get("symbol"), None)
    rows = [{"symbol": s.symbol, "price": api.fx.market(s.symbol).stats()["lastPrice"],
             "time": api.fx.now_ms()} for s in specs]
    return rows[0] if "symbol" in p else rows


# --- account -----------------------------------------------------------------------------
def _position_risk(api: RestApi, symbol: str) -> dict[str, object]:
    eng = _eng(api)
    pos = eng.positions[symbol]
    mark = eng.mark(symbol)
    notional = pos.amt * mark
    return {"symbol": symbol, "positionSide": "BOTH", "positionAmt": fmt(pos.amt),
            "entryPrice": fmt(pos.entry), "breakEvenPrice": fmt(pos.entry),
            "markPrice": fmt(mark), "unRealizedProfit": fmt(eng.unrealized(symbol)),
            "liquidationPrice": fmt(eng.liquidation_price(symbol)),
            "isolatedMargin": fmt(pos.isolated_wallet), "notional": fmt(notional),
            "marginAsset": "USDT", "isolatedWallet": fmt(pos.isolated_wallet),
            "initialMargin": fmt(eng.initial_margin(symbol)),
            "maintMargin": fmt(abs(notional) * MAINT_MARGIN_RATE),
            "positionInitialMargin": fmt(eng.initial_margin(symbol)),
            "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
            "leverage": str(pos.leverage), "marginType": pos.margin_type,
            "maxNotionalValue": "250000", "isAutoAddMargin": "false",
            "updateTime": pos.update_time}


def position_risk(api: RestApi, p: Params) -> object:
    symbols = [_symbol(api, p)] if "symbol" in p else list(_eng(api).specs)
    return [_position_risk(api, s) for s in symbols]


def _asset(api: RestApi) -> dict[str, object]:
    eng = _eng(api)
    upnl = sum((eng.unrealized(s) for s in eng.positions), Decimal(0))
    im = sum((eng.initial_margin(s) for s in eng.positions), Decimal(0))
    return {"asset": "USDT", "walletBalance": fmt(eng.wallet), "unrealizedProfit": fmt(upnl),
            "marginBalance": fmt(eng.wallet + upnl), "maintMargin": "0",
            "initialMargin": fmt(im + eng.order_margin()), "positionInitialMargin": fmt(im),
            "openOrderInitialMargin": fmt(eng.order_margin()),
            "crossWalletBalance": fmt(eng.wallet), "crossUnPnl": fmt(upnl),
            "availableBalance": fmt(eng.available()), "maxWithdrawAmount": fmt(eng.available()),
            "marginAvailable": True, "updateTime": api.fx.now_ms()}


def account(api: RestApi, p: Params) -> object:
    asset = _asset(api)
    return {"totalWalletBalance": asset["walletBalance"],
            "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"],
            "availableBalance": asset["availableBalance"], "canTrade": True,
            "assets": [asset],
            "positions": [_position_risk(api, s) for s in _eng(api).specs
                          if _eng(api).positions[s].amt]}


def balance(api: RestApi, p: Params) -> object:
    asset = _asset(api)
    return [{"accountAlias": "fake", "asset": "USDT", "balance": asset["walletBalance"],
             "crossWalletBalance": asset["crossWalletBalance"],
             "crossUnPnl": asset["crossUnPnl"], "availableBalance": asset["availableBalance"],
             "maxWithdrawAmount": asset["maxWithdrawAmount"], "marginAvailable": True,
             "updateTime": asset["updateTime"]}]


def leverage_bracket(api: RestApi, p: Params) -> object:
    symbols = [_symbol(api, p)] if "symbol" in p else list(_eng(api).specs)
    return [{"symbol": s, "brackets": [{
        "bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
        "maintMarginRatio": float(MAINT_MARGIN_RATE), "cum": 0.0}]} for s in symbols]


def set_leverage(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p)
    lev = _int(p, "leverage")
    if lev is None:
        raise errors.mandatory("leverage")
    _eng(api).set_leverage(symbol, lev)
    return {"leverage": lev, "maxNotionalValue": "250000", "symbol": symbol}


def set_margin_type(api: RestApi, p: Params) -> object:
    _eng(api).set_margin_type(_symbol(api, p), _req(p, "marginType"))
    return {"code": 200, "msg": "success"}


def position_side_dual(api: RestApi, p: Params) -> object:
    return {"dualSidePosition": _eng(api).dual_side}


def income(api: RestApi, p: Params) -> object:
    kind, symbol = p.get("incomeType"), p.get("symbol")
    start, end = _int(p, "startTime"), _int(p, "endTime")
    limit = min(_int(p, "limit", 100) or 100, 1000)
    rows = [i for i in _eng(api).incomes
            if (kind is None or i.income_type == kind) and (symbol is None or i.symbol == symbol)
            and (start is None or i.time >= start) and (end is None or i.time <= end)]
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [{"symbol": i.symbol, "incomeType": i.income_type, "income": fmt(i.income),
             "asset": "USDT", "info": i.income_type, "time": i.time, "tranId": i.tran_id,
             "tradeId": i.trade_id} for i in rows]


# --- orders ------------------------------------------------------------------------------
def _json(api: RestApi, order: Order) -> dict[str, object]:
    return futures_order_json(order, order.order_id in _eng(api).reduce_only)


def new_order(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p)
    if _eng(api).dual_side:
        raise BinanceError(-4061, "Order's position side does not match user's setting.")
    reduce = p.get("reduceOnly", "false").lower()
    if reduce not in ("true", "false"):
        raise BinanceError(-4062, "Invalid or improper reduceOnly value.")
    client_id = p.get("newClientOrderId") or f"fake_{secrets.token_hex(8)}"
    order = _eng(api).place_futures(symbol, _req(p, "side"), _req(p, "type"),
                                    _dec(p, "quantity"), _dec(p, "price"),
                                    p.get("timeInForce"), client_id, reduce == "true")
    return _json(api, order)


def _find(api: RestApi, p: Params, cancel: bool) -> Order:
    symbol = _symbol(api, p)
    order_id, client_id = _int(p, "orderId"), p.get("origClientOrderId")
    if order_id is None and not client_id:
        raise errors.mandatory("orderId")
    order = _eng(api).find(symbol, order_id, client_id)
    if order is None:
        raise errors.unknown_order_cancel() if cancel else errors.order_does_not_exist()
    return order


def get_order(api: RestApi, p: Params) -> object:
    return _json(api, _find(api, p, cancel=False))


def cancel_order(api: RestApi, p: Params) -> object:
    order = _find(api, p, cancel=True)
    _eng(api).cancel(order, "")
    return _json(api, order)


def cancel_all(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p)
    for order in _eng(api).open_orders(symbol):
        _eng(api).cancel(order, "")
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def open_orders(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p) if p.get("symbol") else None
    return [_json(api, o) for o in _eng(api).open_orders(symbol)]


def all_orders(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p)
    limit = min(_int(p, "limit", 500) or 500, 1000)
    return [_json(api, o) for o in _eng(api).all_orders(
        symbol, _int(p, "orderId"), _int(p, "startTime"), _int(p, "endTime"), limit)]


def user_trades(api: RestApi, p: Params) -> object:
    symbol = _symbol(api, p)
    limit = min(_int(p, "limit", 500) or 500, 1000)
    eng = _eng(api)
    return [user_trade_json(f, eng.realized.get(f.trade_id, Decimal(0)))
            for f in eng.my_trades(symbol, _int(p, "orderId"), _int(p, "fromId"),
                                   _int(p, "startTime"), _int(p, "endTime"), limit)]


# --- listenKey ---------------------------------------------------------------------------
def new_listen_key(api: RestApi, p: Params) -> object:
    key = secrets.token_hex(30)
    api.fx.hub.futures_listen_keys.add(key)
    return {"listenKey": key}


def keepalive_listen_key(api: RestApi, p: Params) -> object:
    return {"listenKey": next(iter(api.fx.hub.futures_listen_keys), "")}


def close_listen_key(api: RestApi, p: Params) -> object:
    return {}


FAPI_ROUTES: Routes = {
    ("GET", "/fapi/v1/ping"): ("NONE", RestApi.ping),
    ("GET", "/fapi/v1/time"): ("NONE", RestApi.time),
    ("GET", "/fapi/v1/exchangeInfo"): ("NONE", exchange_info),
    ("GET", "/fapi/v1/depth"): ("NONE", RestApi.depth),
    ("GET", "/fapi/v1/trades"): ("NONE", RestApi.trades),
    ("GET", "/fapi/v1/aggTrades"): ("NONE", RestApi.agg_trades),
    ("GET", "/fapi/v1/klines"): ("NONE", RestApi.klines),
    ("GET", "/fapi/v1/ticker/bookTicker"): ("NONE", RestApi.book_ticker),
    ("GET", "/fapi/v1/ticker/24hr"): ("NONE", RestApi.ticker_24hr),
    ("GET", "/fapi/v1/ticker/price"): ("NONE", ticker_price),
    ("GET", "/fapi/v2/ticker/price"): ("NONE", ticker_price),
    ("GET", "/fapi/v1/premiumIndex"): ("NONE", premium_index),
    ("POST", "/fapi/v1/order"): ("SIGNED", new_order),
    ("GET", "/fapi/v1/order"): ("SIGNED", get_order),
    ("DELETE", "/fapi/v1/order"): ("SIGNED", cancel_order),
    ("DELETE", "/fapi/v1/allOpenOrders"): ("SIGNED", cancel_all),
    ("GET", "/fapi/v1/openOrders"): ("SIGNED", open_orders),
    ("GET", "/fapi/v1/allOrders"): ("SIGNED", all_orders),
    ("GET", "/fapi/v1/userTrades"): ("SIGNED", user_trades),
    ("GET", "/fapi/v2/account"): ("SIGNED", account),
    ("GET", "/fapi/v3/account"): ("SIGNED", account),
    ("GET", "/fapi/v2/balance"): ("SIGNED", balance),
    ("GET", "/fapi/v3/balance"): ("SIGNED", balance),
    ("GET", "/fapi/v2/positionRisk"): ("SIGNED", position_risk),
    ("GET", "/fapi/v3/positionRisk"): ("SIGNED", position_risk),
    ("GET", "/fapi/v1/leverageBracket"): ("SIGNED", leverage_bracket),
    ("POST", "/fapi/v1/leverage"): ("SIGNED", set_leverage),
    ("POST", "/fapi/v1/marginType"): ("SIGNED", set_margin_type),
    ("GET", "/fapi/v1/positionSide/dual"): ("SIGNED", position_side_dual),
    ("GET", "/fapi/v1/income"): ("SIGNED", income),
    ("POST", "/fapi/v1/listenKey"): ("USER_STREAM", new_listen_key),
    ("PUT", "/fapi/v1/listenKey"): ("USER_STREAM", keepalive_listen_key),
    ("DELETE", "/fapi/v1/listenKey"): ("USER_STREAM", close_listen_key),
}
