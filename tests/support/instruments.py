"""The one instrument factory for tests: an `Instrument` by keyword, BTC/USDT on a 0.01 tick and
a 0.001 lot unless a test says otherwise. Each test names the grid values it depends on."""

from __future__ import annotations

from decimal import Decimal

from daemon.model import Instrument, MarketKind


def instrument(symbol: str = "BTC/USDT", *, tick: str = "0.01", lot: str = "0.001",
               min_qty: str = "0.001", max_qty: str = "100", min_notional: str = "5",
               kind: MarketKind = MarketKind.MARGIN, trading: bool = True) -> Instrument:
    """`symbol` is BASE/QUOTE (ccxt's spelling, `:SETTLE` allowed); every number is a decimal
    string so that what the test wrote is what the grid holds."""
    base, quote = symbol.split(":", 1)[0].split("/", 1)
    return Instrument(symbol, base, quote, Decimal(tick), Decimal(lot), Decimal(min_qty),
                      Decimal(max_qty), Decimal(min_notional), kind, trading)
