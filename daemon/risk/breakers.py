"""Circuit breakers: post-trade checks evaluated on every mark, every fill and every rejection.

- daily loss: equity now minus equity when the UTC day began (realized + unrealized - fees),
  beyond `max_daily_loss`;
- drawdown: equity below its peak by more than `max_drawdown_pct` percent of the peak;
- rejections: more than `max_rejections_per_minute` venue rejections within 60 seconds;
- malformed replies: more than `max_malformed_replies_per_minute` venue answers that could not
  be read (a 200 whose body is not the record asked for) within 60 seconds: a venue that keeps
  answering garbage is not one to trade on, even while each order is still resolved.

A breaker only reports a trip through `on_trip`; the supervisor halts, latches, cancels and
flattens. The supervisor passes it every event the inventory books, synchronously: the very
next intent already meets a halted gate.

What the breakers have measured (today's PnL, the distance below the peak, and the books' PnL
they were measured at) is carried over a restart through `RiskState`, so restarting — or a
crash loop — cannot hand the daemon a fresh loss budget. Without a journal the books start
empty and the carry applies at once. With one, the books are rebuilt from the journal without
the breakers seeing the replay (it is history the carry already counts), and `restored` then
measures from where the carry says the day began and the peak stood. Until every position the
restore brought back has a price, equity is not known (the books value them at cost), so the
equity breakers wait for the marks instead of judging a guess.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from decimal import Decimal

from daemon.book.inventory import InventoryView
from daemon.clock import Clock
from daemon.config import RiskConfig
from daemon.model import ZERO, Fill, Order
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.risk.breaker_screen import Screen
from daemon.risk.latch import DAY_NS, RiskState, utc_day

_log = log.get("breakers")
HUNDRED = Decimal(100)
MINUTE_NS = 60 * 1_000_000_000


class Breaker(enum.Enum):
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    REJECTIONS = "rejections"
    MALFORMED_REPLIES = "malformed_replies"


# The halts that come from elsewhere: reconciliation drift, a lost journal and the operator's
# kill switch (SIGUSR1, `POST /halt`). With the breakers above, every `breaker` label of
# tradingd_circuit_breaker_trips_total.
RECONCILIATION = "reconciliation"
JOURNAL = "journal"
KILL_SWITCH = "kill_switch"
LIQUIDATION = "liquidation"  # swaps: the mark near the venue's liquidation price (supervisor)
TRIP_LABELS = (*(b.value for b in Breaker), RECONCILIATION, JOURNAL, KILL_SWITCH, LIQUIDATION)


class CircuitBreakers:
    def __init__(self, config: RiskConfig, view: InventoryView, clock: Clock, metrics: Metrics,
                 on_trip: Callable[[Breaker, str], None], carry: RiskState | None,
                 starting_cash: Decimal) -> None:
        self._config = config
        self._view = view
        self._clock = clock
        self._on_trip = on_trip
        self._starting_cash = starting_cash  # equity - this = what the books have made
        self._rejections: deque[int] = deque()
        self._malformed: deque[int] = deque()
        self._unpriced = False  # restored positions are still waiting for their first mark
        self._screen: Screen | None = None  # the last `screen`, and what it was computed from
        self._screen_symbol = ""
        self._screen_revision = -1
        # What `_levels` last converted, and from which peak, day start and limits.
        self._levels_of: tuple[Decimal, Decimal, RiskConfig,
                               tuple[float, float, float]] | None = None
        # One instrument: its equity line's base moves only with the books' revision (`screen`).
        self._single_instrument = len(view.symbols) == 1
        now_ns = clock.now_ns()
        equity = view.equity()
        self._day = now_ns // DAY_NS
        same_day = carry is not None and carry.day == utc_day(now_ns)
        carried_pnl = carry.daily_pnl if carry is not None and same_day else ZERO
        carried_drawdown = carry.drawdown if carry is not None else ZERO
        self._day_start = equity - carried_pnl
        self._peak = equity + carried_drawdown
        # The gauges are read when scraped, not set on every evaluation: three float
        # conversions and three locked sets a fill, for numbers nobody reads between scrapes.
        metrics.daily_pnl.set_function(lambda: float(self.daily_pnl()))
        metrics.equity_peak.set_function(lambda: float(self._peak))
        metrics.drawdown.set_function(lambda: float(self.drawdown_ratio(self._view.equity())))
        if carried_pnl or carried_drawdown:
            _log.info("breakers.carried_over", daily_pnl=carried_pnl, drawdown=carried_drawdown,
                      day=carry.day if carry else "")

    def configure(self, config: RiskConfig) -> None:
        self._config = config
        self._screen = None

    def restored(self, carry: RiskState | None) -> None:
        """The books were rebuilt from the journal: measure from where `carry` says today
        began and the peak stood. Those are levels of the books' PnL (`total_pnl`), valid
        whatever the restored positions are marked at, or the starting capital now is."""
        now_ns = self._clock.now_ns()
        equity = self._view.equity()
        ref = equity  # without a measuring point: from the books as restored
        if carry is not None and carry.total_pnl is not None:
            ref = self._starting_cash + carry.total_pnl
        same_day = carry is not None and carry.day == utc_day(now_ns)
        daily_pnl = carry.daily_pnl if carry is not None and same_day else ZERO
        drawdown = carry.drawdown if carry is not None else ZERO
        self._day = now_ns // DAY_NS
        self._day_start = ref - daily_pnl
        self._peak = ref + drawdown
        self._unpriced = True
        _log.info("breakers.restored", daily_pnl=daily_pnl, drawdown=drawdown,
                  day_start_equity=self._day_start, equity_peak=self._peak,
                  restored_equity=equity, day=carry.day if carry else "")
        self.evaluate()

    # --- BooksListener ----------------------------------------------------------------------

    def on_mark(self, symbol: str) -> None:
        # Equity moves with a mark only through a position in that instrument (the common
        # case on a quiet book is none): skip the Decimal work then, but not a new UTC day.
        if self._view.position(symbol) or self._clock.now_ns() // DAY_NS != self._day:
            self.evaluate()

    def on_fill(self, fill: Fill) -> None:
        self.evaluate()

    def on_rejected(self, order: Order) -> None:
        count = self._count(self._rejections)
        if count > self._config.max_rejections_per_minute:
            self._on_trip(Breaker.REJECTIONS,
                          f"{count} rejections within 60s > "
                          f"{self._config.max_rejections_per_minute} (last: "
                          f"{order.client_order_id})")

    def on_malformed_reply(self) -> None:
        """The venue answered something that could not be read (the broker tells us)."""
        count = self._count(self._malformed)
        if count > self._config.max_malformed_replies_per_minute:
            self._on_trip(Breaker.MALFORMED_REPLIES,
                          f"{count} unreadable venue answers within 60s > "
                          f"{self._config.max_malformed_replies_per_minute}")

    def _count(self, window: deque[int]) -> int:
        """Add an event now to a 60 s window; how many it holds."""
        now = self._clock.monotonic_ns()
        window.append(now)
        while window and window[0] <= now - MINUTE_NS:
            window.popleft()
        return len(window)

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(self) -> None:
        self._screen = None  # what it screened may be about to change
        if self._unpriced and not self._priced():
            return  # equity values a restored position at cost: wait for its first mark
        now_ns = self._clock.now_ns()
        equity = self._view.equity()
        day = now_ns // DAY_NS
        if day != self._day:
            _log.info("breakers.new_day", day=utc_day(now_ns),
                      previous_daily_pnl=equity - self._day_start)
            self._day = day
            self._day_start = equity
        if equity > self._peak:
            self._peak = equity
        daily_pnl = equity - self._day_start
        cfg = self._config
        if -daily_pnl > cfg.max_daily_loss:
            self._on_trip(Breaker.DAILY_LOSS,
                          f"daily PnL {daily_pnl} beyond -{cfg.max_daily_loss}")
        elif self._drawdown_beyond_limit(equity):
            self._on_trip(Breaker.DRAWDOWN,
                          f"equity {equity} is {self.drawdown_ratio(equity) * HUNDRED:.4f}% "
                          f"below its peak {self._peak} > {cfg.max_drawdown_pct}%")

    def _drawdown_beyond_limit(self, equity: Decimal) -> bool:
        """`drawdown_ratio(equity)` x 100 > the limit, without the division: exact, and what
        every fill of a replay asks."""
        peak = self._peak
        if peak <= 0:
            return HUNDRED > self._config.max_drawdown_pct
        return (peak - equity) * HUNDRED > self._config.max_drawdown_pct * peak

    def screen(self, symbol: str) -> Screen:
        """Where marking `symbol` could trip a breaker, with the books as they stand (a replay's
        market walk asks before each run of ticks; see `daemon.breaker_screen`)."""
        # Asked at every bar of a replay, and between evaluations nothing it depends on moves
        # (one instrument's base is cash less what its position cost; `evaluate` runs on every
        # fill and every change of peak or day, and drops it; funding and venue marks move the
        # books' revision): reuse the last while so.
        view = self._view
        cached = self._screen
        if (cached is not None and symbol == self._screen_symbol
                and view.revision == self._screen_revision and self._single_instrument):
            return cached
        screen = self._screen = self._new_screen(symbol)
        self._screen_symbol = symbol
        self._screen_revision = view.revision
        return screen

    def _new_screen(self, symbol: str) -> Screen:
        day_end_ns = (self._day + 1) * DAY_NS
        peak, daily_floor, keep = self._levels()
        view = self._view
        qty = view.position(symbol)
        if not qty:  # equity does not move with this price: only a new day matters
            return Screen(0.0, 0.0, peak, daily_floor, keep, day_end_ns)
        mark = view.mark_price(symbol)
        if mark is None or self._unpriced:
            return Screen(0.0, 0.0, peak, daily_floor, keep, day_end_ns, look_now=True)
        base = float(view.equity() - qty * mark)
        return Screen(base, float(qty), peak, daily_floor, keep, day_end_ns)

    def _levels(self) -> tuple[float, float, float]:
        """The peak, the daily floor and the drawdown's keep ratio as floats, for a screen:
        converted again only when the peak, the day or the limits moved (a new screen comes
        with every fill; a new peak is rarer)."""
        peak, start, cfg = self._peak, self._day_start, self._config
        of = self._levels_of
        if of is None or of[0] is not peak or of[1] is not start or of[2] is not cfg:
            levels = (float(peak), float(start - cfg.max_daily_loss),
                      1 - float(cfg.max_drawdown_pct) / 100)
            self._levels_of = of = (peak, start, cfg, levels)
        return of[3]

    def _priced(self) -> bool:
        view = self._view
        if any(view.position(s) and view.mark_price(s) is None for s in view.symbols):
            return False
        self._unpriced = False
        return True

    def drawdown_ratio(self, equity: Decimal) -> Decimal:
        if self._peak <= 0:
            return Decimal(1)
        return max(ZERO, (self._peak - equity) / self._peak)

    def rebaseline(self) -> None:
        """An operator resumed: the losses so far are accepted; measure from here."""
        equity = self._view.equity()
        self._peak = self._day_start = equity
        self._rejections.clear()
        self._malformed.clear()
        self.evaluate()

    @property
    def equity_peak(self) -> Decimal:
        return self._peak

    def daily_pnl(self) -> Decimal:
        return self._view.equity() - self._day_start

    def carry(self, base: RiskState, now_ns: int) -> RiskState:
        """`base` (the latch) with today's PnL, the drawdown and the books' PnL they were
        measured at filled in, for saving."""
        equity = self._view.equity()
        return RiskState(
            halted=base.halted, halt_reason=base.halt_reason, halt_detail=base.halt_detail,
            halted_ns=base.halted_ns, day=utc_day(now_ns), daily_pnl=equity - self._day_start,
            drawdown=max(ZERO, self._peak - equity), updated_ns=now_ns,
            total_pnl=equity - self._starting_cash)
