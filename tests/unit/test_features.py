"""Streaming features against straightforward references."""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.features import MAX_EMPTY_BARS, BarAggregator, LogReturn, LogReturnLags, RingWindow
from daemon.model import Bar

prices = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.integers(1, 20), st.lists(st.integers(), max_size=200))
def test_ring_window_matches_a_bounded_deque(capacity: int, values: list[int]) -> None:
    window: RingWindow[int] = RingWindow(capacity)
    ref: deque[int] = deque(maxlen=capacity)
    for v in values:
        expected_drop = ref[0] if len(ref) == capacity else None
        assert window.on_tick(v) == expected_drop
        ref.append(v)
        assert window.newest_first() == list(reversed(ref))
        assert window.oldest_first() == list(ref)
        assert window.is_full() == (len(ref) == capacity)


def test_ring_window_rejects_bad_capacity_and_index() -> None:
    with pytest.raises(ValueError):
        RingWindow(0)
    w: RingWindow[int] = RingWindow(2)
    w.on_tick(1)
    with pytest.raises(IndexError):
        w.newest(1)


def test_log_return_of_seed_example() -> None:
    f = LogReturn()
    assert f.on_tick(100.0) is None
    assert f.on_tick(120.0) == pytest.approx(0.1823215567939546, abs=1e-15)
    assert f.on_tick(100.0) == pytest.approx(-0.1823215567939546, abs=1e-15)


def test_log_return_lags_are_newest_first_like_the_seed() -> None:
    lags = LogReturnLags(3)
    assert [lags.on_tick(p) for p in (90.0, 100.0, 150.0)] == [None, None, None]
    got = lags.on_tick(110.0)
    assert got == pytest.approx([math.log(110 / 150), math.log(150 / 100), math.log(100 / 90)])


@given(st.integers(1, 6), st.lists(prices, max_size=60))
def test_log_return_lags_match_reference(n: int, series: list[float]) -> None:
    lags = LogReturnLags(n)
    for i, p in enumerate(series):
        got = lags.on_tick(p)
        returns = [math.log(series[k] / series[k - 1]) for k in range(1, i + 1)]
        if len(returns) < n:
            assert got is None
        else:
            assert got == list(reversed(returns[-n:]))
            out = [0.0] * n
            assert lags.copy_into(out) and out == got


def reference_bars(ticks: list[tuple[int, float, float]], interval: int,
                   until_bucket: int) -> list[tuple[int, float, float, float, float, float, int]]:
    """Group by bucket; empty buckets between trades become flat bars at the previous close."""
    by_bucket: dict[int, list[tuple[int, float, float]]] = {}
    for t in ticks:
        by_bucket.setdefault(t[0] // interval, []).append(t)
    first = min(by_bucket)
    out = []
    prev_close = 0.0
    for b in range(first, until_bucket):
        group = by_bucket.get(b)
        if group:
            ps = [p for _, p, _ in group]
            vol = 0.0
            for _, _, s in group:
                vol += s
            out.append((b * interval, ps[0], max(ps), min(ps), ps[-1], vol, len(ps)))
            prev_close = ps[-1]
        else:
            out.append((b * interval, prev_close, prev_close, prev_close, prev_close, 0.0, 0))
    return out


@given(st.integers(1, 50), st.lists(st.tuples(st.integers(0, 500), prices,
                                              st.floats(0.001, 5.0)), min_size=1, max_size=80))
def test_bar_aggregation_matches_reference(interval: int,
                                           raw: list[tuple[int, float, float]]) -> None:
    ticks = sorted(raw, key=lambda t: t[0])
    agg = BarAggregator("X", interval)
    bars = []
    for ts, p, s in ticks:
        bars.extend(agg.on_tick(ts, p, s) or [])
    last_bucket = ticks[-1][0] // interval
    bars.extend(agg.on_time((last_bucket + 1) * interval) or [])
    got = [(b.start_ns, b.open, b.high, b.low, b.close, b.volume, b.trades) for b in bars]
    assert got == reference_bars(ticks, interval, last_bucket + 1)
    assert all(b.end_ns - b.start_ns == interval and not b.gap for b in bars)


def test_on_time_closes_quiet_intervals_and_next_trade_opens_the_bar() -> None:
    agg = BarAggregator("X", 10)
    assert agg.on_tick(3, 100.0, 1.0) is None
    closed = agg.on_time(25)
    assert closed is not None
    assert [(b.start_ns, b.close, b.trades) for b in closed] == [(0, 100.0, 1), (10, 100.0, 0)]
    assert agg.on_tick(27, 90.0, 2.0) is None  # opens bar 20 without closing anything
    (bar,) = agg.on_time(30) or []
    assert (bar.start_ns, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        20, 90.0, 90.0, 90.0, 90.0, 2.0)


def test_late_tick_is_ignored_and_gap_is_marked_once() -> None:
    agg = BarAggregator("X", 10)
    agg.on_tick(15, 100.0, 1.0)
    assert agg.on_tick(5, 1.0, 1.0) is None
    agg.mark_gap()
    (bar,) = agg.on_tick(25, 101.0, 1.0) or []
    assert bar.gap and bar.low == 100.0
    (bar2,) = agg.on_time(30) or []
    assert not bar2.gap


def test_a_clock_jump_emits_a_bounded_number_of_bars_and_marks_the_gap() -> None:
    agg = BarAggregator("X", 1)
    agg.on_tick(0, 100.0, 1.0)
    bars = agg.on_time(10 * MAX_EMPTY_BARS)
    assert bars is not None and len(bars) == MAX_EMPTY_BARS + 1
    agg.on_tick(10 * MAX_EMPTY_BARS, 100.0, 1.0)
    (bar,) = agg.on_time(10 * MAX_EMPTY_BARS + 1) or []
    assert bar.gap


def bars_of(bars: list[Bar] | None) -> list[tuple[object, ...]]:
    return [(b.start_ns, b.open, b.high, b.low, b.close, b.volume, b.trades, b.gap)
            for b in bars or []]


@given(st.integers(1, 50),
       st.lists(st.tuples(st.integers(0, 400), prices, st.floats(0.001, 5.0)), max_size=120),
       st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_on_columns_closes_the_same_bars_on_the_same_ticks_as_on_tick(
        interval: int, raw: list[tuple[int, float, float]], cuts: list[int]) -> None:
    """Batches cut anywhere: on_columns stops right after each closing tick with the bars that
    tick closed, exactly (volume too) as feeding the ticks one by one does."""
    ticks = sorted(raw, key=lambda t: t[0])
    per_tick, columnar = BarAggregator("X", interval), BarAggregator("X", interval)
    want = [(i + 1, bars_of(bars)) for i, (ts, p, s) in enumerate(ticks)
            if (bars := per_tick.on_tick(ts, p, s)) is not None]
    got = []
    lo, k = 0, 0
    while lo < len(ticks):
        hi = min(len(ticks), lo + cuts[k % len(cuts)])
        k += 1
        cols = [list(c) for c in zip(*ticks[lo:hi], strict=True)]
        pos = 0
        while pos < hi - lo:
            bars, pos = columnar.on_columns(cols[0], cols[1], cols[2], pos)
            if bars is not None:
                got.append((lo + pos, bars_of(bars)))
        lo = hi
    assert got == want
    end = (ticks[-1][0] // interval + 1) * interval if ticks else 0
    assert bars_of(columnar.on_time(end)) == bars_of(per_tick.on_time(end))
