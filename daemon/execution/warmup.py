"""History warm-up: the closed bars a strategy asks for (`warmup_bars`), before the first live bar.

At startup, after reconciliation and before trading, the venue's history (`HistorySource`: the
exchange's candles through ccxt, or the simulated market's own past) is asked for the last
`warmup_bars` closed bars of each of the strategy's instruments, ending before the bar now
forming, so the first live bar continues the series. They are shown to the strategy oldest
first (instruments interleaved by time); nothing is decided on them. A venue that cannot serve
history (or a replay, which has none before its first trade) is logged, and the strategy warms
up on live bars, as it would without this.
"""

from __future__ import annotations

import asyncio

from daemon.execution.decisions import SignalEngine
from daemon.model import Bar
from daemon.ops import log
from daemon.venues.base import HistorySource

_log = log.get("warmup")
WARMUP_TIMEOUT_S = 60.0


async def warm_up(engine: SignalEngine, history: HistorySource | None, now_ns: int) -> int:
    """Load and show the history; returns how many bars the strategy saw."""
    strategy = engine.strategy
    count = strategy.warmup_bars
    if count <= 0:
        return 0
    if history is None:
        _log.info("warmup.live", reason="no history for this market source", bars=count)
        return 0
    interval_s = strategy.bar_interval_ns // 1_000_000_000
    # The bar now forming is not history: the last one shown ends where it starts.
    end_ns = now_ns // strategy.bar_interval_ns * strategy.bar_interval_ns
    bars: list[Bar] = []
    try:
        async with asyncio.timeout(WARMUP_TIMEOUT_S):
            for symbol in strategy.symbols:
                got = await history.bars(symbol, interval_s, count, end_ns)
                bars.extend(b for b in got if b.end_ns <= end_ns)
                if len(got) < count:
                    _log.warning("warmup.short", symbol=symbol, wanted=count, got=len(got))
    except Exception as err:  # whatever the venue did: trading must not wait on history
        _log.warning("warmup.unavailable", error=repr(err), bars=count,
                     fallback="the strategy warms up on live bars")
        return 0
    bars.sort(key=lambda b: (b.end_ns, b.symbol))
    engine.warm_up(bars)
    _log.info("warmup.done", bars=len(bars), symbols=list(strategy.symbols),
              last_end_ns=bars[-1].end_ns if bars else None)
    return len(bars)
