"""The `[paper]` configuration: the paper account and the fill model it trades under.

Kept out of `config.py` (which only adds the section) so every assumption the paper broker makes
about the market lives in one place with its default. The defaults are conservative: an order
reaches the market 100 ms after it was sent, takes at most a tenth of the volume that trades
meanwhile, pays size-dependent slippage on top of the spread, and a resting limit waits for the
queue ahead of it. `fill_model = "touch"` is the old, optimistic model (whole fills at the touch
plus `slippage_bps`, at once), kept for comparisons: a backtest that only works under it does not
work.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from daemon.config_errors import finite, non_negative, positive


class FillModel(enum.Enum):
    MARKET = "market"  # latency, participation, queue, size-dependent slippage (the default)
    TOUCH = "touch"  # whole fills at the touch at once: the optimistic comparison


class PaperConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The paper account and its fill model. Swaps only (`venues.paper_margin`): the
    maintenance margin rate a position is liquidated at, and funding every
    `funding_interval_s` (at multiples of it since the epoch, as Binance's 00:00/08:00/16:00
    UTC) at `funding_rate` of the position's notional, or at the rates recorded in
    `funding_rates` (a CSV of `time_ms,rate`, relative to the config file). Conservative: a
    higher maintenance rate than Binance's first bracket, and every position pays |rate|
    whichever its side (`funding_always_paid`), so a backtest never books funding income the
    market may not have paid."""

    starting_cash: Decimal = Decimal(10000)
    fill_model: FillModel = FillModel.MARKET
    # Both models: the fee when `maker_fee_bps`/`taker_fee_bps` are not given.
    fee_bps: Decimal = Decimal("7.5")
    # The touch model's fixed slippage on market orders.
    slippage_bps: Decimal = Decimal(1)
    # The market model. Negative maker fee = a rebate.
    maker_fee_bps: Decimal | None = None
    taker_fee_bps: Decimal | None = None
    latency_ms: float = 100.0  # sent -> at the venue (orders and cancels alike)
    max_participation: Decimal = Decimal("0.1")  # of the volume traded while a taker works
    impact_bps: Decimal = Decimal(10)  # slippage = impact_bps * sqrt(qty / window volume)
    max_slippage_bps: Decimal = Decimal(100)  # also what an order pays into a silent market
    volume_window_s: float = 60.0  # the "typical volume" the impact is measured against
    # The queue ahead of a limit that joins a price level: the volume traded in this many
    # seconds before it joined (0 = at the front). Trades at its price eat the queue first.
    queue_ahead_s: float = 10.0
    maintenance_margin_rate: Decimal = Decimal("0.005")
    funding_interval_s: int = 8 * 3600
    funding_rate: Decimal = Decimal("0.0001")
    funding_always_paid: bool = True
    funding_rates: str | None = None

    def __post_init__(self) -> None:
        positive("starting_cash", self.starting_cash)
        non_negative("fee_bps", self.fee_bps)
        non_negative("slippage_bps", self.slippage_bps)
        if self.taker_fee_bps is not None:
            non_negative("taker_fee_bps", self.taker_fee_bps)
        if self.maker_fee_bps is not None:
            finite("maker_fee_bps", self.maker_fee_bps)
        if self.maker_fee_bps is not None and self.maker_fee_bps <= -100:
            raise ValueError("maker_fee_bps: a rebate must be under 100 bps")
        non_negative("latency_ms", self.latency_ms)
        positive("max_participation", self.max_participation)
        if self.max_participation > 1:
            raise ValueError("max_participation: must be <= 1 (a share of the volume)")
        non_negative("impact_bps", self.impact_bps)
        non_negative("max_slippage_bps", self.max_slippage_bps)
        positive("volume_window_s", self.volume_window_s)
        non_negative("queue_ahead_s", self.queue_ahead_s)
        if not Decimal(0) < self.maintenance_margin_rate < Decimal("0.5"):
            raise ValueError("maintenance_margin_rate: must be > 0 and < 0.5 (a fraction of "
                             "the notional, e.g. 0.005)")
        if self.funding_interval_s <= 0:
            raise ValueError("funding_interval_s: must be > 0")
        if not self.funding_rate.is_finite() or abs(self.funding_rate) >= Decimal("0.05"):
            raise ValueError("funding_rate: must be a fraction per interval below 0.05 in "
                             "size (e.g. 0.0001: 0.01%)")

    @property
    def maker_fee(self) -> Decimal:
        return self.fee_bps if self.maker_fee_bps is None else self.maker_fee_bps

    @property
    def taker_fee(self) -> Decimal:
        return self.fee_bps if self.taker_fee_bps is None else self.taker_fee_bps
