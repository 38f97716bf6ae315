"""Linear perpetual swaps on a ccxt venue: the account set-up before trading, and positions.

At startup, before any order, for every swap instrument (`setup`):
1. the account must be in one-way mode: in hedge (dual-position) mode the venue keeps a long
   and a short per symbol and would need `positionSide` on every order; the daemon books one
   signed position, so hedge mode is refused (exit 78) with what to change;
2. the margin mode (`margin_mode`) and 3. the leverage (`leverage`) are set as configured.
"No change needed" answers (Binance -4046, ccxt's `MarginModeAlreadySet`) are success. A
transient failure is retried (`with_retry`); a refusal exits 78 naming the instrument.

`positions` reads the venue's signed position per symbol through the unified
`fetch_positions`: what reconciliation compares the books with; `position_marks` the mark,
liquidation price and margin of the same rows; `funding_events` the funding settlements of
`fetch_funding_history` (Binance's income history), each with the venue's id. A venue that
lists no row for a symbol holds nothing there (Binance's v3 positionRisk omits flat symbols,
and ccxt drops rows without an entry price).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt

from daemon.config import Config, ConfigError, InstrumentConfig
from daemon.events import FundingPaid, MarkPriced
from daemon.model import Instrument, MarketKind
from daemon.ops import log
from daemon.venues.ccxt.client import MalformedReply, error_label, venue_code

_log = log.get("runtime")
NO_CHANGE_CODES = frozenset({-4046, -4059})  # margin type / position side already as asked


def swap_configs(cfg: Config, instruments: dict[str, Instrument]) -> list[InstrumentConfig]:
    return [ic for ic in cfg.market.instruments
            if instruments[ic.symbol].kind is MarketKind.MARGIN]


async def setup(exchange: Any, cfg: Config, instruments: dict[str, Instrument],
                with_retry: Any) -> None:
    """One-way mode checked, margin mode and leverage set, for every swap instrument."""
    swaps = swap_configs(cfg, instruments)
    if not swaps:
        return
    if exchange.has.get("fetchPositionMode"):
        mode = await with_retry("fetch_position_mode", lambda: exchange.fetch_position_mode(
            swaps[0].symbol), _position_mode)
        if mode.get("hedged"):
            raise ConfigError(
                f"market.instruments: the {cfg.exchange.id} account is in hedge (dual-position) "
                "mode; tradingd books one signed position per swap: switch the account to "
                "one-way mode (Binance: Preferences > Position Mode > One-way, or "
                "POST /fapi/v1/positionSide/dual dualSidePosition=false) with no position open")
    for ic in swaps:
        await with_retry(f"set_margin_mode {ic.symbol}",
                         lambda ic=ic: _set_margin_mode(exchange, ic),
                         refused=lambda err, ic=ic: _refused(ic, "margin_mode", err))
        await with_retry(f"set_leverage {ic.symbol}",
                         lambda ic=ic: exchange.set_leverage(ic.venue_leverage, ic.symbol),
                         refused=lambda err, ic=ic: _refused(ic, "leverage", err))
        _log.info("startup.swap", symbol=ic.symbol, leverage=ic.venue_leverage,
                  margin_mode=ic.venue_margin_mode.value)


async def _set_margin_mode(exchange: Any, ic: InstrumentConfig) -> Any:
    try:
        return await exchange.set_margin_mode(ic.venue_margin_mode.value, ic.symbol)
    except ccxt.MarginModeAlreadySet:
        return {"code": -4046, "msg": "no change needed"}
    except ccxt.ExchangeError as err:
        if venue_code(err) in NO_CHANGE_CODES:
            return {"code": venue_code(err), "msg": "no change needed"}
        raise


def _refused(ic: InstrumentConfig, key: str, err: BaseException) -> ConfigError:
    value = str(ic.venue_leverage) if key == "leverage" else f'"{ic.venue_margin_mode.value}"'
    return ConfigError(f"market.instruments: {ic.symbol} {key} = {value} was refused by the "
                       f"venue ({error_label(err)}: {str(err)[:300]})")


def _position_mode(reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict) or not isinstance(reply.get("hedged"), bool):
        raise MalformedReply(f"fetch_position_mode: {str(reply)[:200]}")
    return reply


def positions(reply: Any, symbols: list[str]) -> dict[str, Decimal]:
    """The venue's signed position per symbol (0 where it lists none), from
    `fetch_positions`. Raises `MalformedReply` on anything that is not a position list."""
    if not isinstance(reply, list):
        raise MalformedReply(f"fetch_positions: not a list: {str(reply)[:200]}")
    out = dict.fromkeys(symbols, Decimal(0))
    for p in reply:
        if not isinstance(p, dict):
            raise MalformedReply("fetch_positions: an entry is not a record")
        symbol = p.get("symbol")
        if symbol not in out:
            continue
        out[str(symbol)] += _signed(p)
    return out


def _signed(p: dict[str, Any]) -> Decimal:
    """`contracts` is unsigned in ccxt; `side` says which way (one-way mode: one row)."""
    try:
        contracts = Decimal(str(p.get("contracts") or 0))
        size = Decimal(str(p.get("contractSize") or 1))
        contracts = contracts * size if size != 1 else contracts
    except (InvalidOperation, ValueError):
        raise MalformedReply(f"fetch_positions: contracts {p.get('contracts')!r}") from None
    if not contracts.is_finite() or contracts < 0:
        raise MalformedReply(f"fetch_positions: contracts {p.get('contracts')!r}")
    if not contracts:
        return Decimal(0)
    if p.get("side") not in ("long", "short"):
        raise MalformedReply(f"fetch_positions: side {p.get('side')!r}")
    return contracts if p["side"] == "long" else -contracts


def _dec(what: str, value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MalformedReply(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise MalformedReply(f"{what} {value!r} is not finite")
    return number


def funding_events(reply: Any, symbol: str) -> list[FundingPaid]:
    """`fetch_funding_history` rows as funding settlements of `symbol`, each with the venue's
    id. Raises `MalformedReply` on a row without id, time or a finite amount."""
    if not isinstance(reply, list):
        raise MalformedReply(f"fetch_funding_history: not a list: {str(reply)[:200]}")
    out = []
    for row in reply:
        if not isinstance(row, dict) or row.get("symbol") != symbol:
            continue
        fid, ts = row.get("id"), row.get("timestamp")
        if fid is None or str(fid) == "" or not isinstance(ts, int):
            raise MalformedReply(f"fetch_funding_history: a row without id or time: {row}")
        out.append(FundingPaid(symbol, str(fid), _dec("funding amount", row.get("amount")),
                               ts * 1_000_000))
    return out


def position_marks(reply: Any, symbols: list[str], now_ns: int) -> list[MarkPriced]:
    """From `fetch_positions`: per symbol listed, its mark, liquidation price and margin."""
    if not isinstance(reply, list):
        raise MalformedReply(f"fetch_positions: not a list: {str(reply)[:200]}")
    out = []
    for p in reply:
        if not isinstance(p, dict) or p.get("symbol") not in symbols:
            continue
        mark = p.get("markPrice")
        if mark is None:
            continue
        out.append(MarkPriced(str(p["symbol"]), _dec("markPrice", mark), now_ns,
                              _dec("liquidationPrice", p.get("liquidationPrice") or 0),
                              _dec("initialMargin", p.get("initialMargin") or 0)))
    return out
