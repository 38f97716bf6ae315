"""One parent order being worked: its journaled record, what its children filled, its
schedule, and how it ended. Plain state; `engine.AlgoEngine` moves it."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from daemon.execution.algos import twap
from daemon.journal.parents import ParentRecord
from daemon.model import ZERO, Algo

ACTIVE, COMPLETE, INCOMPLETE, CANCELLED = "active", "complete", "incomplete", "cancelled"


class Parent:
    def __init__(self, record: ParentRecord) -> None:
        self.record = record
        spec = record.spec
        self.filled = ZERO
        self.notional = ZERO  # quote value of the fills: their average is notional / filled
        self.children = 0  # sent through the gate in this run (approved or denied)
        self.volume = ZERO  # POV: market volume traded since it started (or resumed)
        self.state = ACTIVE
        self.reason = ""
        self.end_ns = record.created_ns + int(spec.duration_s * 1e9)
        self.times: list[int] = []
        if spec.algo is Algo.TWAP:
            seed = spec.seed or zlib.crc32(record.parent_id.encode())
            self.times = twap.schedule(record.created_ns, spec.duration_s, spec.slices, seed)
        self.next_slice = 0  # TWAP: the first slice not yet sent

    @property
    def id(self) -> str:
        return self.record.parent_id

    @property
    def algo(self) -> str:
        return self.record.spec.algo.value

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    @property
    def remaining(self) -> Decimal:
        return self.record.spec.qty - self.filled

    def next_due_ns(self) -> int:
        """When this parent next wants a look: its next slice, else its end."""
        if self.next_slice < len(self.times):
            return self.times[self.next_slice]
        return self.end_ns

    def shortfall_bps(self) -> Decimal | None:
        """Average fill against the arrival mid, in bps, positive when it cost (bought above,
        sold below); None before a fill or without a mid."""
        mid = self.record.arrival_mid
        if not self.filled or not mid:
            return None
        avg = self.notional / self.filled
        return (avg - mid) / mid * 10_000 * self.record.spec.side.sign

    def status(self) -> dict[str, Any]:
        spec = self.record.spec
        sf = self.shortfall_bps()
        return {"id": self.id, "algo": self.algo, "symbol": spec.symbol,
                "side": spec.side.value, "target": str(spec.qty), "filled": str(self.filled),
                "progress": float(self.filled / spec.qty) if spec.qty else 0.0,
                "state": self.state, "reason": self.reason, "source": self.record.source,
                "children": self.children, "slices_sent": self.next_slice,
                "slices": len(self.times), "created_ns": self.record.created_ns,
                "end_ns": self.end_ns, "arrival_mid": str(self.record.arrival_mid),
                "shortfall_bps": None if sf is None else round(float(sf), 3)}
