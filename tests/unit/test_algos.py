"""The algorithms' arithmetic, against the rules the README states: TWAP slice times and
cumulative targets, POV child sizes; a child never takes a parent past its target."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from daemon.execution.algos import pov, twap

STEP = Decimal("0.001")
qtys = st.integers(1, 10**6).map(lambda n: n * STEP)


@given(start=st.integers(0, 10**18), duration=st.floats(0.001, 10**6), slices=st.integers(1, 500),
       seed=st.integers(0, 2**32))
def test_each_slice_goes_out_inside_the_first_80_percent_of_its_window(
        start: int, duration: float, slices: int, seed: int) -> None:
    times = twap.schedule(start, duration, slices, seed)
    window = duration * 1e9 / slices
    assert len(times) == slices and times == sorted(times)
    for i, t in enumerate(times):
        assert start + int(i * window) <= t <= start + int(i * window + 0.8 * window) + 1
    assert times == twap.schedule(start, duration, slices, seed)  # a seed, a schedule


@given(qty=qtys, slices=st.integers(1, 200),
       fill_share=st.lists(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1)]),
                           min_size=200, max_size=200))
def test_catch_up_never_overshoots_and_whole_fills_reach_the_target(
        qty: Decimal, slices: int, fill_share: list[Decimal]) -> None:
    """Slice by slice: send what brings filled to the cumulative target; each child fills a
    share (0, half, all; the rest is cancelled). Filled never passes the target, and is on
    target at every slice whose children so far all filled whole."""
    filled = Decimal(0)
    whole = True
    for i in range(slices):
        target = twap.target_through(qty, slices, i, STEP)
        assert target <= qty and target % STEP == 0
        child = target - filled
        assert child >= 0
        got = (child * fill_share[i] / STEP).to_integral_value() * STEP
        filled += got
        assert filled <= qty
        whole = whole and got == child
        if whole:
            assert filled == target
    assert twap.target_through(qty, slices, slices - 1, STEP) == qty


@given(rate=st.integers(1, 100).map(lambda n: Decimal(n) / 100),
       volume=st.integers(0, 10**7).map(lambda n: n * STEP), committed=qtys, qty=qtys,
       min_qty=st.sampled_from([STEP, 10 * STEP]))
def test_pov_child_brings_committed_to_rate_of_volume_at_most(
        rate: Decimal, volume: Decimal, committed: Decimal, qty: Decimal,
        min_qty: Decimal) -> None:
    child = pov.child_qty(rate, volume, committed, qty, STEP, min_qty)
    assert child >= 0 and child % STEP == 0
    if child:
        assert child >= min_qty
        assert committed + child <= min(qty, rate * volume)
        assert min(qty, rate * volume) - (committed + child) < STEP
    else:
        assert min(qty, rate * volume) - committed < min_qty
