"""What the daemon needs to know about ccxt: building a client, its exceptions, its markets.

The ccxt broker and feed import ccxt through here. Errors are classified along ccxt's real
exception tree (`ccxt/base/errors.py`): `DDoSProtection` and `RateLimitExceeded` are siblings
under `NetworkError`; `OperationFailed` is the parent of `NetworkError`; a NOTIONAL filter
failure is `BadRequest`; `OrderNotFound` sits under `InvalidOrder`. For order creation every
`OperationFailed` is *ambiguous* — the venue may have placed the order — and is answered by a
lookup, never by resending. Any other exception out of a venue call is a reply ccxt could not
parse (its parser raises `ValueError`, `TypeError`, ... on a 200 whose body is not what it
expects), and so is a reply that parsed but is not the record asked for (`MalformedReply`):
both are *malformed*, which is as ambiguous as a timeout for a create, and counted as the
exchange error `MalformedReply`.

Retry-After is read from the response that raised, never from the client: ccxt keeps one
`last_response_headers` per client, which any other request in flight (a fill poll, a lookup)
overwrites, and its rate-limit exceptions carry only the body. `make_exchange` therefore builds
the client from a thin subclass whose `handle_errors` (ccxt's per-response hook, which is given
that response's headers) notes the delay on the exception it raises; `retry_after_s(err)`
reads it back. The same subclass hands ccxt's `throttle` to our request budget once one is
attached (`attach_budget`, `budget.py`).
"""

from __future__ import annotations

import email.utils
import enum
import functools
import re
import time
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro as ccxtpro
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS

from daemon.config import ConfigError, ExchangeConfig
from daemon.model import Instrument, MarketKind
from daemon.ops.credentials import Credentials

BaseError = ccxt.BaseError


class ErrorKind(enum.Enum):
    AUTH = "auth"  # fatal: halt and exit, a restart will not fix a bad key
    INSUFFICIENT_FUNDS = "insufficient_funds"  # reject this order, no retry
    ORDER_NOT_FOUND = "order_not_found"
    INVALID_ORDER = "invalid_order"  # filters, precision, notional: reject, no retry
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"  # a maker-only order that would take
    RATE_LIMIT = "rate_limit"  # back off, honouring Retry-After; slow the order throttle
    AMBIGUOUS = "ambiguous"  # timeout, 5xx, network: the request may or may not have landed
    REJECTED = "rejected"  # any other exchange refusal
    MALFORMED = "malformed"  # an answer we cannot read: the request may or may not have landed
    UNKNOWN = "unknown"


MALFORMED_LABEL = "MalformedReply"


class MalformedReply(Exception):
    """The venue answered (HTTP 200) with something that is not the record we asked for: no
    order id, another order's client id, a body that is not JSON. The message says what."""


# Binance futures codes that ccxt 4.5 maps to its own classes only when the request went to a
# production (or testnet) host (`binance.get_exceptions_by_url`); through any other URL (a
# gateway, the local fake) they arrive as a plain `ExchangeError`. Read from the body's code.
VENUE_CODES = {
    -2019: ErrorKind.INSUFFICIENT_FUNDS,  # Margin is insufficient.
    -2022: ErrorKind.INVALID_ORDER,  # ReduceOnly Order is rejected.
    -4164: ErrorKind.INVALID_ORDER,  # Order's notional must be no smaller than ...
    -5021: ErrorKind.INVALID_ORDER,  # FOK order could not be filled
    -5022: ErrorKind.INVALID_ORDER,  # post-only (GTX) order would take
    -4061: ErrorKind.INVALID_ORDER,  # position side does not match (hedge mode)
}
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def venue_code(err: BaseException) -> int | None:
    """The venue's numeric error code in a ccxt exception's message (its body), if any."""
    match = _CODE.search(str(err))
    return int(match.group(1)) if match else None


def classify(err: BaseException) -> ErrorKind:
    if not isinstance(err, BaseError):
        return ErrorKind.MALFORMED  # not ccxt's: raised while parsing what the venue sent
    if type(err) is ccxt.ExchangeError:
        by_code = VENUE_CODES.get(venue_code(err) or 0)
        if by_code is not None:
            return by_code
    if isinstance(err, ccxt.AuthenticationError):
        return ErrorKind.AUTH
    if isinstance(err, ccxt.InsufficientFunds):
        return ErrorKind.INSUFFICIENT_FUNDS
    if isinstance(err, ccxt.OrderNotFound):
        return ErrorKind.ORDER_NOT_FOUND
    if isinstance(err, ccxt.OrderImmediatelyFillable):
        return ErrorKind.POST_ONLY_WOULD_CROSS
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
    """A bounded metric label: ccxt's exception class name, as ccxt spells it; `MalformedReply`
    for whatever else a venue call raised (the Python class is in the log, not the label)."""
    return type(err).__name__ if isinstance(err, BaseError) else MALFORMED_LABEL


_RETRY_AFTER_ATTR = "tradingd_retry_after_s"
_RATE_LIMIT_STATUSES = frozenset({"418", "429"})
_BANNED_UNTIL = re.compile(r"banned until (\d{13})")  # Binance's 418 body: epoch ms


def retry_after_s(err: BaseException) -> float | None:
    """How long the venue asked us to wait, in seconds: the `Retry-After` of the very response
    that raised `err`, else the end of a Binance ban named in its message; None if neither."""
    noted = getattr(err, _RETRY_AFTER_ATTR, None)
    if isinstance(noted, float):
        return noted
    match = _BANNED_UNTIL.search(str(err))
    if match:
        return max(0.0, int(match.group(1)) / 1000 - time.time())
    return None


def parse_retry_after(headers: Any) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() != "retry-after":
            continue
        text = str(value).strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time()) if when.tzinfo else None
    return None


def _note_retry_after(err: BaseException, headers: Any) -> None:
    delay = parse_retry_after(headers)
    if delay is not None:
        setattr(err, _RETRY_AFTER_ATTR, delay)


@functools.cache
def _client_class(cls: Any) -> Any:
    """`cls`, with the Retry-After of a failed response noted on the exception it raises."""

    class Client(cls):  # type: ignore[misc]
        tradingd_budget: Any = None  # our `RequestBudget`, once attached: ccxt's throttler off

        async def throttle(self, cost: Any = None) -> Any:
            budget = self.tradingd_budget
            if budget is None:
                return await super().throttle(cost)
            return await budget.spend(cost)

        def client(self, url: str) -> Any:
            """A websocket's client: its requests spend from our budget too (ccxt gives each
            socket a throttler of capacity one, the REST client's wait again)."""
            ws = super().client(url)
            budget = self.tradingd_budget
            if budget is not None and ws.throttle != budget.spend:
                ws.throttle = budget.spend
            return ws

        def handle_errors(self, code: int, reason: str, url: str, method: str, headers: Any,
                          body: str, response: Any, request_headers: Any,
                          request_body: Any) -> Any:
            try:
                handled = super().handle_errors(code, reason, url, method, headers, body,
                                                response, request_headers, request_body)
            except BaseError as err:
                _note_retry_after(err, headers)
                raise
            status = str(code)
            error_class = self.httpExceptions.get(status)
            if status in _RATE_LIMIT_STATUSES and error_class is not None:
                # What ccxt's handle_http_status_code raises next, which is not given headers.
                limited = error_class(" ".join(str(part) for part in (
                    self.id, method, url, status, reason, body)))
                _note_retry_after(limited, headers)
                raise limited
            return handled

    Client.__name__ = cls.__name__
    Client.__qualname__ = cls.__qualname__
    return Client


def attach_budget(exchange: Any, budget: Any) -> None:
    """Requests of `exchange` spend from `budget` (`budget.py`) instead of waiting in ccxt's
    throttler: `enableRateLimit` stays on, so ccxt still prices each request and asks."""
    exchange.tradingd_budget = budget


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
    exchange = _client_class(cls)(params)
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
