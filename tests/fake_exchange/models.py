"""Engine records (orders, fills, balances) and their Binance JSON renderings.

The engine mutates these dataclasses; everything Binance-shaped that leaves the fake about an
order or a trade - REST order/ACK/RESULT/FULL responses, myTrades rows, `executionReport` and
`outboundAccountPosition` user-data events - is rendered here, so REST and websockets can
never disagree about the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .markets import fmt

ZERO = Decimal(0)
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Fill:
    """One execution of a user order (a row of myTrades)."""

    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass
class Order:
    symbol: str
    order_id: int
    client_order_id: str
    side: str  # BUY / SELL
    type: str  # LIMIT / MARKET / LIMIT_MAKER
    time_in_force: str  # GTC / IOC / FOK ("GTC" is what Binance reports for MARKET too)
    price: Decimal  # 0 for MARKET
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    # quote (BUY) or base (SELL) still held in `locked` for the unfilled rest of a LIMIT order
    locked: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty


def order_json(order: Order) -> dict[str, object]:
    """`GET /api/v3/order` / openOrders / allOrders row."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt(ZERO),
        "icebergQty": fmt(ZERO),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": True,
        "workingTime": order.time,
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def new_order_json(order: Order, resp_type: str, fills: list[Fill]) -> dict[str, object]:
    """`POST /api/v3/order` response for newOrderRespType ACK / RESULT / FULL."""
    out: dict[str, object] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }
    if resp_type == "ACK":
        return out
    out.update(
        {
            "price": fmt(order.price),
            "origQty": fmt(order.orig_qty),
            "executedQty": fmt(order.executed_qty),
            "origQuoteOrderQty": fmt(order.orig_quote_qty),
            "cummulativeQuoteQty": fmt(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            "workingTime": order.time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
    )
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills
        ]
    return out


def cancel_json(order: Order, cancel_client_id: str, now: int) -> dict[str, object]:
    """`DELETE /api/v3/order` (and each element of `DELETE /api/v3/openOrders`)."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": now,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def my_trade_json(f: Fill) -> dict[str, object]:
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def execution_report(
    order: Order,
    exec_type: str,
    now: int,
    fill: Fill | None = None,
    cancel_client_id: str = "",
    reject_reason: str = "NONE",
) -> dict[str, object]:
    """Spot user-data `executionReport`, field for field as Binance sends it.

    On a cancel Binance puts the cancel request's id in "c" and the order's own id in "C";
    every other event has "C": "" (ccxt reads "C" first and falls back to "c" when empty).
    """
    canceled = exec_type == "CANCELED"
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": cancel_client_id if canceled and cancel_client_id else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt(order.orig_qty),
        "p": fmt(order.price),
        "P": fmt(ZERO),
        "F": fmt(ZERO),
        "g": -1,
        "C": order.client_order_id if canceled and cancel_client_id else "",
        "x": exec_type,
        "X": order.status,
        "r": reject_reason,
        "i": order.order_id,
        "l": fmt(fill.qty if fill else ZERO),
        "z": fmt(order.executed_qty),
        "L": fmt(fill.price if fill else ZERO),
        "n": fmt(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else now,
        "t": fill.trade_id if fill else -1,
        "v": 0,
        "I": 0,
        "w": order.is_open,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": fmt(order.cum_quote),
        "Y": fmt(fill.quote_qty if fill else ZERO),
        "Q": fmt(order.orig_quote_qty),
        "W": order.time,
        "V": "EXPIRE_MAKER",
    }


def account_position(
    balances: dict[str, Balance], assets: list[str], now: int
) -> dict[str, object]:
    """`outboundAccountPosition`: the changed assets only, as Binance sends it."""
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": now,
        "B": [
            {"a": a, "f": fmt(balances[a].free), "l": fmt(balances[a].locked)}
            for a in sorted(set(assets))
            if a in balances
        ],
    }
