"""The `[market]` section: the instruments (their grid, kind and, for swaps, leverage and margin
mode) and where their data comes from, the simulated market's parameters among them.

Part of the configuration `daemon.config` reads (and re-exports); its own module so that
`config.py` stays one screenful per concern.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from daemon.config_errors import non_negative, positive


class InstrumentKind(enum.Enum):
    """What the paper account may do with an instrument, as the venue would allow it."""

    SPOT = "spot"  # long-only: sell only what was bought
    SWAP = "swap"  # a linear perpetual: signed positions, long or short


class MarginMode(enum.Enum):
    """How a swap position is margined on the venue: by its own margin, or the whole wallet."""

    ISOLATED = "isolated"
    CROSS = "cross"


MAX_VENUE_LEVERAGE = 125  # the most any ccxt venue we know of allows


class InstrumentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An instrument to trade. The grid is required for the simulated market; with an exchange
    source it comes from the exchange's markets and any value here is ignored.

    `kind` defaults from the symbol as ccxt writes it: `BTC/USDT` is spot, `BTC/USDT:USDT` a
    swap settled in USDT. With an exchange source the venue's market decides, and a `kind`
    written here must agree with it.

    Swaps only: `leverage` and `margin_mode` are set on the venue at startup, before any
    order (defaults: 1 and isolated, the least a mistake can cost)."""

    symbol: str
    price_increment: Decimal | None = None
    size_increment: Decimal | None = None
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    min_notional: Decimal | None = None
    start_price: Decimal = Decimal(60000)
    kind: InstrumentKind | None = None
    leverage: int | None = None
    margin_mode: MarginMode | None = None

    GRID = ("price_increment", "size_increment", "min_qty", "max_qty", "min_notional")

    def __post_init__(self) -> None:
        if "/" not in self.symbol:
            raise ValueError("symbol: must look like BASE/QUOTE")
        for name in ("price_increment", "size_increment", "max_qty", "start_price"):
            value = getattr(self, name)
            if value is not None:
                positive(name, value)
        for name in ("min_qty", "min_notional"):
            value = getattr(self, name)
            if value is not None:
                non_negative(name, value)
        if self.min_qty is not None and self.max_qty is not None and self.min_qty > self.max_qty:
            raise ValueError("min_qty: must be <= max_qty")
        if self.leverage is not None and not 1 <= self.leverage <= MAX_VENUE_LEVERAGE:
            raise ValueError(f"leverage: must be 1 to {MAX_VENUE_LEVERAGE}")
        if self.market_kind is InstrumentKind.SPOT:
            for name in ("leverage", "margin_mode"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: only for swaps ({self.symbol} is spot)")

    @property
    def venue_leverage(self) -> int:
        return self.leverage if self.leverage is not None else 1

    @property
    def venue_margin_mode(self) -> MarginMode:
        return self.margin_mode if self.margin_mode is not None else MarginMode.ISOLATED

    @property
    def quote(self) -> str:
        """The quote currency as the symbol spells it (`BTC/USDT:USDT` -> `USDT`)."""
        return self.symbol.split(":", 1)[0].split("/", 1)[1]

    @property
    def market_kind(self) -> InstrumentKind:
        if self.kind is not None:
            return self.kind
        return InstrumentKind.SWAP if ":" in self.symbol else InstrumentKind.SPOT


class SimPairConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A cointegrated pair on the simulated market: `dependent`'s price is
    `alpha + hedge_ratio * independent's price + spread`, the spread a mean-reverting
    (Ornstein-Uhlenbeck) process with half-life `half_life_s` and volatility
    `spread_vol_per_sqrt_hour` (a fraction of the dependent's start price); `alpha` makes the
    dependent start at its `start_price`."""

    dependent: str
    independent: str
    hedge_ratio: Decimal
    spread_vol_per_sqrt_hour: Decimal = Decimal("0.002")
    half_life_s: float = 60.0

    def __post_init__(self) -> None:
        positive("hedge_ratio", self.hedge_ratio)
        non_negative("spread_vol_per_sqrt_hour", self.spread_vol_per_sqrt_hour)
        positive("half_life_s", self.half_life_s)
        if self.dependent == self.independent:
            raise ValueError("dependent: must differ from independent")


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seed: int = 42
    ticks_per_s: int = 20
    # Volatility of log price per sqrt(hour); 0.0085 is the stdev of BTCUSDT 1h log returns
    # 2017-2024 (shared/data), so the walk moves like the real market did.
    vol_per_sqrt_hour: Decimal = Decimal("0.0085")
    spread_bps: Decimal = Decimal(1)
    pair: SimPairConfig | None = None  # correlated instruments (a pairs strategy's market)

    def __post_init__(self) -> None:
        positive("ticks_per_s", self.ticks_per_s)
        non_negative("vol_per_sqrt_hour", self.vol_per_sqrt_hour)
        non_negative("spread_bps", self.spread_bps)


class MarketSource(enum.Enum):
    SIM = "sim"
    EXCHANGE = "exchange"


class MarketConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    instruments: list[InstrumentConfig]
    source: MarketSource = MarketSource.SIM
    batch_interval_ms: int = 100
    sim: SimConfig = SimConfig()

    def __post_init__(self) -> None:
        if not self.instruments:
            raise ValueError("instruments: at least one instrument is required")
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError("instruments: symbols must be unique")
        # Equity, limits and PnL add quote amounts across instruments: one currency only.
        quote = self.instruments[0].quote
        for n, inst in enumerate(self.instruments):
            if inst.quote != quote:
                raise ValueError(f"instruments[{n}].symbol: quote currency {inst.quote} differs "
                                 f"from {quote} ({self.instruments[0].symbol}); a daemon's "
                                 f"instruments must share one quote currency")
        positive("batch_interval_ms", self.batch_interval_ms)
        pair = self.sim.pair
        if pair is not None:
            for name in ("dependent", "independent"):
                if getattr(pair, name) not in symbols:
                    raise ValueError(f"sim.pair.{name}: not one of market.instruments")
        if self.source is MarketSource.SIM:
            for n, inst in enumerate(self.instruments):
                for name in InstrumentConfig.GRID:
                    if getattr(inst, name) is None:
                        raise ValueError(f"instruments[{n}].{name}: required when source = "
                                         f"\"sim\" (an exchange source reads it from the venue)")
