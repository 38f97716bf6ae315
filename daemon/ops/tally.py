"""Counters and a histogram for the order path: a float add where prometheus_client takes a lock.

`prometheus_client`'s `Counter.inc` costs ~0.5 us and `Histogram.observe` ~1 us (pure Python,
a lock each); an order and its fill made five of them. These keep plain numbers, compiled with
the hot path, and `daemon.ops.metrics.TallyCollector` reads them when the registry is collected
(a scrape, or `get_sample_value`): the exposition is the same families, names, labels and
`_created` series a `Counter` or `Histogram` of the same name would give. Everything runs on the
event loop, and so does a scrape: there is nothing to lock.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections.abc import Sequence


class Tally:
    """A counter: only ever goes up."""

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up: inc({amount})")
        self.value += amount


class TallyHistogram:
    """A histogram with fixed upper bounds (`le`, inclusive), plus +Inf."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = sorted(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # per bucket, not cumulative; last: +Inf
        self.total = 0.0
        self.created = time.time()
        self.samples: array[float] | None = None  # every value, once `keep_samples` was called

    def keep_samples(self) -> array[float]:
        """Keep every value observed from now on (8 bytes each): exact percentiles, where the
        buckets only bound them (the bench)."""
        if self.samples is None:
            self.samples = array("d")
        return self.samples

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        if self.samples is not None:
            self.samples.append(value)

    def cumulative(self) -> list[int]:
        """Per bucket, the count of values at or below its bound (the last: all of them)."""
        out = []
        running = 0
        for count in self.counts:
            running += count
            out.append(running)
        return out
