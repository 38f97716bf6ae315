"""TWAP parent orders from a strategy, on the replay clock, through the real gate, router,
books and paper broker: children at their scheduled times (the schedule recomputed here from
its documented rule), the target filled exactly, denied children shown and caught up without
overshooting, and a halt mid-way ending the parent."""

from __future__ import annotations

import asyncio
import random
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from daemon import config
from daemon.clock import ReplayClock
from daemon.model import Fill, Side
from daemon.venues.replay import ReplaySource
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext, load
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills
from tests.support.in_process import paper_daemon

S = 10**9
SYM = "BTC/USDT"
# The touch fill model (whole fills at the touch, at once): these tests are about when the
# children go out and how much; `test_twap_under_the_market_fill_model...` takes the default.
CONFIG = IN_PROCESS_HEAD + """[paper]
starting_cash = "100000"
fill_model = "{fill_model}"
fee_bps = 0
slippage_bps = 0
[strategy]
class = "tests.support.algo_strategies:ParentOnce"
[strategy.params]
symbol = "BTC/USDT"
{params}
[risk]
max_order_notional = "1000"
max_position_notional = "{max_position}"
max_gross_exposure = "5000"
max_daily_loss = "{max_loss}"
stale_data_s = 3600
"""


def _daemon(tmp: Path, params: str, prices: list[float], max_position: str = "1000",
            max_loss: str = "1000", fill_model: str = "touch") -> Any:
    cfg = config.parse(CONFIG.format(params=params, max_position=max_position,
                                     max_loss=max_loss, fill_model=fill_model), str(tmp))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp))
    clock = ReplayClock()
    ts = [(k + 1) * S for k in range(len(prices))]
    source = ReplaySource(SYM, [(ts, prices, [1.0] * len(prices))], clock, batch_ticks=1)
    return paper_daemon(cfg, strategy, clock=clock, source=source)


def _children(fills: list[Fill]) -> list[Fill]:
    return [f for f in fills if f.side is Side.BUY]


def _schedule(start_ns: int, duration_s: float, slices: int, seed: int) -> list[int]:
    """The README's rule, written out again: slice i's child at a uniform random point in the
    first 80% of its window, from `random.Random(seed)`."""
    rng = random.Random(seed)
    window = duration_s * S / slices
    return [start_ns + int(i * window + rng.random() * 0.8 * window) for i in range(slices)]


def test_twap_sends_n_children_at_their_times_and_fills_the_target(tmp_path: Path) -> None:
    """1. the strategy's first bar (closed by the tick at 2 s) hands over a TWAP: buy 5 in 10
    slices over 100 s; 2. the replay runs 130 s of trades at 100; 3. ten market children fill,
    0.5 each, each in the replay second its scheduled time falls in; 4. the parent ends
    complete; the replay's end flattens."""
    daemon = _daemon(tmp_path, 'qty = "5"\nseed = 7', [100.0] * 130)
    fills = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    (parent,) = daemon.algos.status()
    assert parent["state"] == "complete", parent
    start = parent["created_ns"]
    expected = _schedule(start, 100.0, 10, 7)
    buys = _children(fills)
    assert [f.qty for f in buys] == [Decimal("0.5")] * 10
    assert sum(f.qty for f in buys) == Decimal(5)
    for fill, due in zip(buys, expected, strict=True):
        # Sent at the first batch boundary at or after its time: at most one tick (1 s) late.
        assert due <= fill.ts_ns <= due + S + 1, (fill.ts_ns, due)
    # The first slice went out at once (its time is the parent's start plus its jitter).
    assert parent["children"] == 10 and parent["slices_sent"] == 10
    assert parent["shortfall_bps"] == 0.0  # filled at the arrival mid: no slippage configured
    m = daemon.metrics
    assert m.algo_children.labels("twap")._value.get() == 10
    assert m.algo_ended.labels("twap", "complete")._value.get() == 1
    assert daemon.inventory.is_flat()


def test_twap_seed_makes_the_schedule_differ_and_a_replay_repeat(tmp_path: Path) -> None:
    """Two replays with one seed send their children at the same times; another seed, not."""
    def times(seed: int, sub: str) -> list[int]:
        (tmp_path / sub).mkdir()
        daemon = _daemon(tmp_path / sub, f'qty = "5"\nseed = {seed}', [100.0] * 130)
        fills = record_fills(daemon.inventory)
        assert asyncio.run(daemon.run()) == 0
        return [f.ts_ns for f in _children(fills)]

    a, b, c = times(7, "a"), times(7, "b"), times(8, "c")
    assert a == b and a != c and len(c) == 10


def test_a_denied_child_is_caught_up_never_overshot(tmp_path: Path) -> None:
    """1. TWAP buy 5 in 10 slices at 100, with `max_position_notional` 320: 3.0 fits, 3.5 not;
    2. children 1-6 pass (0.5 each, 300); child 7 would make 350 and is denied
    (max_position_notional), and so is every catch-up after it (each larger); 3. the parent
    ends incomplete at its schedule's end having filled 3.0, never more, and the denials are
    counted by the gate like any order's."""
    daemon = _daemon(tmp_path, 'qty = "5"\nseed = 3', [100.0] * 130, max_position="320")
    fills = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    (parent,) = daemon.algos.status()
    buys = _children(fills)
    assert sum(f.qty for f in buys) == Decimal(3) and len(buys) == 6
    assert parent["state"] == "incomplete" and parent["reason"] == "schedule_ended"
    assert parent["filled"] == "3.0" and parent["children"] == 10
    m = daemon.metrics
    assert m.risk_denials.labels("max_position_notional")._value.get() == 4
    assert m.algo_ended.labels("twap", "incomplete")._value.get() == 1


def test_a_halt_mid_way_ends_the_parent_and_sends_no_more(tmp_path: Path) -> None:
    """1. TWAP buy 5 over 100 s at 100; 2. at 40 s the price falls to 90: the daily-loss
    breaker (max 5) trips and halts; 3. the parent ends incomplete (halted), no child goes out
    after the halt, and the halt's flatten closes what was bought."""
    prices = [100.0] * 40 + [90.0] * 90
    daemon = _daemon(tmp_path, 'qty = "5"\nseed = 7', prices, max_loss="5")
    fills = record_fills(daemon.inventory)
    asyncio.run(daemon.run())
    (parent,) = daemon.algos.status()
    assert parent["state"] == "incomplete", parent
    buys = _children(fills)
    halted_at = 41 * S
    assert buys and all(f.ts_ns <= halted_at for f in buys), [f.ts_ns for f in buys]
    expected = _schedule(parent["created_ns"], 100.0, 10, 7)
    assert len(buys) == sum(t <= halted_at for t in expected)
    assert daemon.inventory.is_flat()


def test_schedule_helper_matches_the_seed_rule() -> None:
    """The parent's default seed is the CRC-32 of its id: the rule the README documents."""
    from daemon.execution.algos import twap

    assert twap.schedule(0, 100.0, 10, zlib.crc32(b"x-1")) == _schedule(
        0, 100.0, 10, zlib.crc32(b"x-1"))


class _QuotedReplay(ReplaySource):
    """Recorded trades with a quote around each batch's last trade (bid/ask ±0.5): a limit at
    the touch rests until the market trades through it."""

    def _slice(self, chunks: Any) -> Any:
        for batch in super()._slice(chunks):
            last = batch.price[-1]
            yield msgspec.structs.replace(batch, bid=last - 0.5, ask=last + 0.5)


def test_limit_at_touch_children_rest_are_replaced_per_slice_and_never_overshoot(
        tmp_path: Path) -> None:
    """1. TWAP buy 5 in 10 limit-at-touch slices over 100 s; trades at 100 (bid 99.5) for
    40 s, then falling 0.25 a second; 2. while trades stay above the bid, each slice's limit
    rests unfilled and is cancelled when the next slice is due, its quantity caught up by the
    next child; 3. once the market falls through, children fill at their own limits (maker);
    4. the parent never has more filled than its target, every fill is at a price the bid
    was, and what is left working at the end is cancelled."""
    prices = [100.0] * 40 + [100.0 - 0.25 * k for k in range(1, 91)]
    cfg = config.parse(CONFIG.format(params='qty = "5"\nseed = 7\nlimit_at_touch = true',
                                     max_position="1000", max_loss="1000",
                                     fill_model="touch"), str(tmp_path))
    strategy = load(cfg.strategy.class_path, cfg.strategy.params,
                    StrategyContext(instruments_from_config(cfg), tmp_path))
    clock = ReplayClock()
    ts = [(k + 1) * S for k in range(len(prices))]
    source = _QuotedReplay(SYM, [(ts, prices, [1.0] * len(prices))], clock, batch_ticks=1)
    daemon = paper_daemon(cfg, strategy, clock=clock, source=source)
    fills = record_fills(daemon.inventory)
    asyncio.run(daemon.run())
    (parent,) = daemon.algos.status()
    buys = _children(fills)
    bids = {Decimal(repr(p - 0.5)) for p in prices}
    assert buys and all(f.price in bids for f in buys), [f.price for f in buys]
    assert all(f.ts_ns > 40 * S for f in buys)  # nothing filled while the market stood above
    filled = sum(f.qty for f in buys)
    assert filled <= Decimal(5) and Decimal(parent["filled"]) == filled
    assert parent["state"] in ("complete", "incomplete") and parent["children"] > len(buys)
    assert daemon.metrics.order_outcomes["cancelled"].value >= 3


def test_twap_under_the_market_fill_model_fills_in_parts_and_never_overshoots(
        tmp_path: Path) -> None:
    """The default fill model: a child fills over several ticks (latency, at most 10% of the
    volume traded while it works). 1. TWAP buy 5 in 10 market slices over 100 s, 1.0 traded a
    second; 2. each 0.5 child takes about five ticks, well inside its 10 s slice; 3. the
    parent ends complete at exactly 5: a slice due while an earlier child still works sends
    only what brings filled plus working to its target."""
    daemon = _daemon(tmp_path, 'qty = "5"\nseed = 7', [100.0] * 130, fill_model="market")
    fills = record_fills(daemon.inventory)
    assert asyncio.run(daemon.run()) == 0
    (parent,) = daemon.algos.status()
    buys = _children(fills)
    assert len(buys) > 10  # in parts, not whole
    assert sum(f.qty for f in buys) == Decimal(5) == Decimal(parent["filled"])
    assert parent["state"] == "complete" and parent["children"] == 10
