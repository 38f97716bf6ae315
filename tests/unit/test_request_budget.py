"""The request budget's sliding window against a brute-force count of every spend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daemon.venues.ccxt.budget import SECOND_NS, SlidingWindow, published_limits

WINDOW = 10 * SECOND_NS


def in_window(spends: list[tuple[int, int]], now: int) -> int:
    return sum(units for at, units in spends if at > now - WINDOW)


@given(st.integers(1, 20), st.lists(st.tuples(st.integers(0, 3 * SECOND_NS),
                                               st.integers(1, 8)), max_size=60))
def test_never_over_the_limit_and_never_waits_longer_than_needed(
        limit: int, requests: list[tuple[int, int]]) -> None:
    window = SlidingWindow(limit, WINDOW)
    spends: list[tuple[int, int]] = []
    now = 0
    for gap, units in requests:
        now += gap
        wait = window.wait_ns(units, now)
        assert wait >= 0
        now += wait
        used = in_window(spends, now)
        # It fits once waited for (or it is larger than the limit and the window is empty) ...
        assert used + units <= limit or used == 0
        # ... and one nanosecond less would not have done.
        if wait:
            before = in_window(spends, now - 1)
            assert before + units > limit and before > 0
        window.spend(units, now)
        spends.append((now, units))


def test_binance_exchange_info_limits() -> None:
    info = {"rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
         "limit": 61000},
        {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "limit": 1},  # unknown: skipped
        "garbage",
    ]}
    weight, orders = published_limits(info)
    assert weight == 6000
    assert orders == [(100, 10 * SECOND_NS), (200000, 86_400 * SECOND_NS)]
    assert published_limits({"no": "limits"}) == (None, [])
    assert published_limits("not a dict") == (None, [])
