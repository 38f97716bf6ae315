"""How quiet the machine is right now, printed beside the bench figures.

On a shared VM the same run varies by 2x in CPU time and its latency tail by more, with nothing
else running in the guest: the host's other tenants and the guest's own timer tick stall a
busy CPU, and contend for its caches and memory. `probe()` spins for a while reading the clock
and reports how often the loop was stalled for longer than a decision takes, how long a fixed
piece of Python work took and how long a walk through 64 MB of memory took: with them a reader
can tell a slow result from a slow machine.
"""

from __future__ import annotations

import time
from array import array
from typing import Any

STALL_NS = 20_000  # longer than a decision: such a stall alone pushes an order past 50 us


def probe(seconds: float = 1.0) -> dict[str, Any]:
    clock = time.perf_counter_ns
    stalls = 0
    end = clock() + int(seconds * 1e9)
    last = clock()
    while last < end:
        now = clock()
        if now - last > STALL_NS:
            stalls += 1
        last = now
    started = time.process_time_ns()
    _reference_work()
    work_ns = time.process_time_ns() - started
    memory = array("q", bytes(64 << 20))
    started = time.process_time_ns()
    sum(memory[::8])  # one read per 64-byte cache line, 1M lines: memory-bound
    walk_ns = time.process_time_ns() - started
    return {"stalls_over_20us_per_s": round(stalls / seconds),
            "reference_work_ms": round(work_ns / 1e6, 1),
            "memory_walk_ms": round(walk_ns / 1e6, 1)}


def _reference_work() -> float:
    """A fixed mix of interpreted work (~20 ms on a quiet machine of this project's kind)."""
    table: dict[int, float] = {}
    total = 0.0
    for i in range(200_000):
        total += (i % 7) * 0.5
        table[i & 1023] = total
    return total
