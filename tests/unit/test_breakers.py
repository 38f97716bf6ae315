"""Circuit breakers on real books: daily loss, drawdown, rejection bursts, unreadable venue
answers, restarts, resume."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

from daemon.book.inventory import InventoryManager
from daemon.config import RiskConfig
from daemon.model import Fill, Order, OrderState, OrderType, Side
from daemon.ops.metrics import Metrics
from daemon.risk.breakers import Breaker, CircuitBreakers
from daemon.risk.latch import RiskState, utc_day
from tests.support.clock import ManualClock
from tests.support.instruments import instrument

BTC = instrument(min_notional="1")
SEC = 1_000_000_000
# 2026-03-01 23:00 UTC: an hour before a UTC day boundary
T0 = int(datetime.datetime(2026, 3, 1, 23, tzinfo=datetime.UTC).timestamp()) * SEC


def make(carry: RiskState | None = None, **limits: object) -> tuple[
        InventoryManager, CircuitBreakers, ManualClock, list[tuple[Breaker, str]]]:
    cfg = RiskConfig(D(10_000), D(10_000), **limits)  # type: ignore[arg-type]
    clock = ManualClock(T0)
    inv = InventoryManager([BTC], D(1000))
    trips: list[tuple[Breaker, str]] = []
    breakers = CircuitBreakers(cfg, inv.view, clock, Metrics(["BTC/USDT"]),
                               lambda b, detail: trips.append((b, detail)), carry, D(1000))
    inv.set_listener(breakers)
    return inv, breakers, clock, trips


def buy(inv: InventoryManager, qty: str, price: str, fee: str = "0", tid: str = "t1") -> None:
    inv.apply_fill(Fill("c", tid, "BTC/USDT", Side.BUY, D(qty), D(price), D(fee), T0))


def test_daily_loss_trips_on_the_mark_that_crosses_it() -> None:
    inv, _, _, trips = make(max_daily_loss=D(50))
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 50.0, T0)  # -50: at the limit, not beyond
    assert trips == []
    inv.mark("BTC/USDT", 49.99, T0)
    assert [b for b, _ in trips] == [Breaker.DAILY_LOSS]


def test_fees_count_toward_the_daily_loss_and_trip_on_the_fill() -> None:
    inv, _, _, trips = make(max_daily_loss=D("0.5"))
    buy(inv, "1", "100", fee="0.6")
    assert [b for b, _ in trips] == [Breaker.DAILY_LOSS]


def test_drawdown_is_measured_from_the_equity_peak() -> None:
    inv, breakers, _, trips = make(max_drawdown_pct=D(10))
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 300.0, T0)  # equity 1200: the peak
    assert breakers.equity_peak == D(1200)
    inv.mark("BTC/USDT", 181.0, T0)  # 1081: 9.9% below the peak
    assert trips == []
    inv.mark("BTC/USDT", 179.0, T0)  # 1079: 10.08% below
    assert [b for b, _ in trips] == [Breaker.DRAWDOWN]


def test_a_new_utc_day_starts_a_new_daily_loss_budget() -> None:
    inv, breakers, clock, trips = make(max_daily_loss=D(50), max_drawdown_pct=D(99))
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 60.0, T0)  # -40 today
    clock.advance(3600 * SEC)  # midnight UTC
    inv.mark("BTC/USDT", 60.0, clock.now)
    assert breakers.daily_pnl() == 0
    inv.mark("BTC/USDT", 20.0, clock.now)  # -40 today, -80 since yesterday
    assert trips == []


def test_a_new_utc_day_is_noticed_on_a_mark_while_flat() -> None:
    inv, breakers, clock, trips = make(max_daily_loss=D(50), max_drawdown_pct=D(99))
    buy(inv, "1", "100")
    inv.apply_fill(Fill("c", "t2", "BTC/USDT", Side.SELL, D(1), D(60), D(0), T0))  # -40, flat
    clock.advance(3600 * SEC)
    inv.mark("BTC/USDT", 60.0, clock.now)
    buy(inv, "1", "60", fee="20", tid="t3")  # -20 today; -60 counted from yesterday
    assert trips == [] and breakers.daily_pnl() == D(-20)


def test_a_rejection_burst_trips_within_a_minute_but_not_spread_out() -> None:
    inv, _, clock, trips = make(max_rejections_per_minute=2)

    def reject(n: int) -> None:
        inv.open_order(Order(f"o{n}", "BTC/USDT", Side.BUY, D(1), OrderType.MARKET, None,
                             False, 0))
        inv.order_done(f"o{n}", OrderState.REJECTED)

    for n in range(4):  # one every 31 s: never more than 2 in a minute
        reject(n)
        clock.advance(31 * SEC)
    assert trips == []
    reject(10)
    reject(11)
    assert [b for b, _ in trips] == [Breaker.REJECTIONS]


def test_unreadable_venue_answers_trip_beyond_the_limit_within_a_minute() -> None:
    """At the boundary: the limit itself is allowed, one more within 60 s trips; spread out
    (one every 31 s) they never do; a resume (rebaseline) forgets the window."""
    _, breakers, clock, trips = make(max_malformed_replies_per_minute=2)
    for _ in range(4):
        breakers.on_malformed_reply()
        clock.advance(31 * SEC)
    assert trips == []
    breakers.on_malformed_reply()
    breakers.on_malformed_reply()
    assert [b for b, _ in trips] == [Breaker.MALFORMED_REPLIES]
    assert "3 unreadable venue answers within 60s > 2" in trips[0][1]
    trips.clear()
    breakers.rebaseline()
    breakers.on_malformed_reply()
    breakers.on_malformed_reply()
    assert trips == []


def test_a_restart_the_same_day_carries_the_loss_and_the_drawdown() -> None:
    inv, breakers, _, _ = make(max_daily_loss=D(500), max_drawdown_pct=D(99))
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 60.0, T0)
    saved = breakers.carry(RiskState(), T0)
    assert (saved.day, saved.daily_pnl, saved.drawdown) == (utc_day(T0), D(-40), D(40))
    # The next process starts with fresh paper cash; the budget left must not be fresh.
    _, again, _, trips = make(saved, max_daily_loss=D(50), max_drawdown_pct=D(99))
    assert again.daily_pnl() == D(-40) and again.equity_peak == D(1040)
    again.evaluate()
    assert trips == []
    _, strict, _, trips = make(saved, max_daily_loss=D(30), max_drawdown_pct=D(99))
    strict.evaluate()
    assert [b for b, _ in trips] == [Breaker.DAILY_LOSS]


def test_a_carry_from_yesterday_keeps_the_drawdown_but_not_the_daily_loss() -> None:
    saved = RiskState(day="2026-02-28", daily_pnl=D(-40), drawdown=D(40))
    _, breakers, _, _ = make(saved)
    assert breakers.daily_pnl() == 0 and breakers.equity_peak == D(1040)


def test_rebaseline_accepts_the_losses_so_far() -> None:
    inv, breakers, _, trips = make(max_drawdown_pct=D(5))
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 40.0, T0)
    assert trips
    trips.clear()
    breakers.rebaseline()
    inv.mark("BTC/USDT", 40.0, T0)
    assert trips == [] and breakers.equity_peak == D(940) and breakers.daily_pnl() == 0


def test_drawdown_exactly_at_the_limit_holds_and_the_gauges_read_the_books() -> None:
    """The trip compares (peak - equity) x 100 with pct x peak, exactly: equity exactly 10%
    below the peak is at the limit, not beyond. The gauges are computed when scraped, from the
    books as they are then."""
    cfg = RiskConfig(D(10_000), D(10_000), max_drawdown_pct=D(10))
    inv = InventoryManager([BTC], D(1000))
    metrics = Metrics(["BTC/USDT"])
    trips: list[tuple[Breaker, str]] = []
    breakers = CircuitBreakers(cfg, inv.view, ManualClock(T0), metrics,
                               lambda b, detail: trips.append((b, detail)), None, D(1000))
    inv.set_listener(breakers)
    buy(inv, "1", "100")
    inv.mark("BTC/USDT", 300.0, T0)  # equity 1200: the peak
    inv.mark("BTC/USDT", 180.0, T0)  # 1080: exactly 10% below
    assert trips == []
    sample = metrics.registry.get_sample_value
    assert sample("tradingd_equity_peak") == 1200.0
    assert sample("tradingd_drawdown_ratio") == 120 / 1200
    assert sample("tradingd_daily_pnl") == 80.0
    inv.mark("BTC/USDT", 179.99, T0)  # 1079.99: beyond
    assert [b for b, _ in trips] == [Breaker.DRAWDOWN]
    assert "10.0008% below its peak 1200" in trips[0][1]
