"""What the daemon needs to know about ccxt: building a client, its exceptions, its markets.

The ccxt broker and feed import ccxt through here. Errors are classified along ccxt's real
exception tree (`ccxt/base/errors.py`): `DDoSProtection` and `RateLimitExceeded` are siblings
under `NetworkError`; `OperationFailed` is the parent of `NetworkError`; a NOTIONAL filter
failure is `BadRequest`; `OrderNotFound` sits under `InvalidOrder`. For order creation every
`OperationFailed` is *ambiguous* — the venue may have placed the order — and is answered by a
lookup, never by resending.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro as ccxtpro
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS

from daemon.config import ConfigError, ExchangeConfig
from daemon.credentials import Credentials
from daemon.model import Instrument, MarketKind

BaseError = ccxt.BaseError


class ErrorKind(enum.Enum):
    AUTH = "auth"  # fatal: halt and exit, a restart will not fix a bad key
    INSUFFICIENT_FUNDS = "insufficient_funds"  # reject this order, no retry
    ORDER_NOT_FOUND = "order_not_found"
    INVALID_ORDER = "invalid_order"  # filters, precision, notional: reject, no retry
    RATE_LIMIT = "rate_limit"  # back off, honouring Retry-After; slow the order throttle
    AMBIGUOUS = "ambiguous"  # timeout, 5xx, network: the request may or may not have landed
    REJECTED = "rejected"  # any other exchange refusal
    UNKNOWN = "unknown"


def classify(err: BaseException) -> ErrorKind:
    if isinstance(err, ccxt.AuthenticationError):
        return ErrorKind.AUTH
    if isinstance(err, ccxt.InsufficientFunds):
        return ErrorKind.INSUFFICIENT_FUNDS
    if isinstance(err, ccxt.OrderNotFound):
        return ErrorKind.ORDER_NOT_FOUND
    if isinstance(err, ccxt.InvalidOrder | ccxt.BadRequest):
        return ErrorKind.INVALID_ORDER
    if isinstance(err, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return ErrorKind.RATE_LIMIT
    if isinstance(err, ccxt.OperationFailed):
        return ErrorKind.AMBIGUOUS
    if isinstance(err, ccxt.ExchangeError):
        return ErrorKind.REJECTED
    return ErrorKind.UNKNOWN


def error_label(err: BaseException) -> str:
    """A bounded metric label: ccxt's exception class name, as ccxt spells it."""
    return type(err).__name__


def retry_after_s(exchange: Any) -> float | None:
    """`Retry-After` of the last response, in seconds, when the venue sent one."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _plain(value: Any) -> Any:
    """TOML decimals as floats/ints for ccxt, which expects JSON-like values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def make_exchange(cfg: ExchangeConfig, creds: Credentials | None) -> Any:
    """A ccxt.pro client (REST and websockets) configured from `[exchange]`."""
    cls = getattr(ccxtpro, cfg.id, None)
    if cls is None:
        if getattr(ccxt, cfg.id, None) is None:
            raise ConfigError(f"exchange.id: ccxt has no exchange '{cfg.id}'")
        raise ConfigError(f"exchange.id: ccxt has no websocket client for '{cfg.id}'")
    params: dict[str, Any] = {"enableRateLimit": True, "timeout": cfg.timeout_ms,
                              "options": _plain(cfg.options)}
    if creds is not None and creds.complete:
        params.update(creds.ccxt_fields())
    exchange = cls(params)
    if cfg.sandbox:
        exchange.set_sandbox_mode(True)
    if cfg.api_urls:
        exchange.urls["api"] = _deep_merge(exchange.urls.get("api") or {}, _plain(cfg.api_urls))
    return exchange


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def _increment(value: Any, precision_mode: int) -> Decimal | None:
    """ccxt precision as a grid step: TICK_SIZE gives the step, DECIMAL_PLACES the digits."""
    if value is None:
        return None
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    if precision_mode == SIGNIFICANT_DIGITS:
        return None  # a grid that depends on the price: not supported, refused below
    return Decimal(str(value))


class UnsupportedMarket(Exception):
    pass


def instrument_from_market(market: dict[str, Any], precision_mode: int) -> Instrument:
    symbol = market["symbol"]
    if market.get("spot"):
        kind = MarketKind.SPOT
    elif market.get("swap") and market.get("linear"):
        kind = MarketKind.MARGIN
    else:
        raise UnsupportedMarket(f"{symbol}: only spot and linear swap markets are supported")
    precision, limits = market.get("precision") or {}, market.get("limits") or {}
    price_inc = _increment(precision.get("price"), precision_mode)
    size_inc = _increment(precision.get("amount"), precision_mode)
    if price_inc is None or size_inc is None or price_inc <= 0 or size_inc <= 0:
        raise UnsupportedMarket(f"{symbol}: the venue reports no usable price/amount precision")
    amount, cost = limits.get("amount") or {}, limits.get("cost") or {}
    contract = _dec(market.get("contractSize")) or Decimal(1)
    if contract != 1:
        raise UnsupportedMarket(f"{symbol}: contract size {contract} is not supported")
    return Instrument(
        symbol=symbol, base=market["base"], quote=market["quote"], price_increment=price_inc,
        size_increment=size_inc, min_qty=_dec(amount.get("min")) or size_inc,
        max_qty=_dec(amount.get("max")) or Decimal("1e12"),
        min_notional=_dec(cost.get("min")) or Decimal(0), kind=kind,
        trading=market.get("active") is not False)


def instruments_from_markets(markets: dict[str, Any], symbols: list[str],
                             precision_mode: int) -> dict[str, Instrument]:
    out = {}
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            raise ConfigError(f"market.instruments: the exchange has no market '{symbol}'")
        try:
            out[symbol] = instrument_from_market(market, precision_mode)
        except UnsupportedMarket as err:
            raise ConfigError(f"market.instruments: {err}") from None
    return out
