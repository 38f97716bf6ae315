"""The order path's tallies export what prometheus_client's own metrics of the same name would:
the same samples, names, labels and values (the `_created` times aside), checked against
prometheus_client itself fed the same events."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from daemon.ops.metrics import TallyCollector

BOUNDS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 0.1, 1.0)


def samples(registry: CollectorRegistry) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                  for family in registry.collect() for s in family.samples
                  if not s.name.endswith("_created"))


def created(registry: CollectorRegistry) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return sorted((s.name, tuple(sorted(s.labels.items())))
                  for family in registry.collect() for s in family.samples
                  if s.name.endswith("_created"))


def test_tallies_export_what_prometheus_client_would() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    hot = TallyCollector()
    ours.register(hot)
    fills = hot.counter("t_fills", "Fills")
    outcomes = hot.labelled("t_orders", "Orders", "outcome", ("submitted", "filled"))
    latency = hot.histogram("t_latency_seconds", "Latency", BOUNDS)
    ref_fills = Counter("t_fills", "Fills", registry=theirs)
    ref_orders = Counter("t_orders", "Orders", ["outcome"], registry=theirs)
    for outcome in ("submitted", "filled"):
        ref_orders.labels(outcome)
    ref_latency = Histogram("t_latency_seconds", "Latency", buckets=BOUNDS, registry=theirs)

    rng = random.Random(7)
    # Every bound itself (a bucket's `le` is inclusive), values past the last, and random ones.
    values = [*BOUNDS, 0.0, 2.0, 1e9] + [rng.uniform(0, 0.03) for _ in range(500)]
    for value in values:
        latency.observe(value)
        ref_latency.observe(value)
        amount = rng.choice([1.0, 0.25, 3.0])
        fills.inc(amount)
        ref_fills.inc(amount)
        outcome = rng.choice(["submitted", "filled"])
        outcomes[outcome].inc()
        ref_orders.labels(outcome).inc()

    assert samples(ours) == samples(theirs)
    assert created(ours) == created(theirs)


def test_a_tally_refuses_to_go_down_as_a_counter_does() -> None:
    hot = TallyCollector()
    fees = hot.counter("t_fees", "Fees")
    with pytest.raises(ValueError, match="only goes up"):
        fees.inc(-0.5)
    assert fees.value == 0.0
