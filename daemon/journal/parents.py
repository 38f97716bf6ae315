"""The journal of parent orders (execution algorithms): what was asked, and how it ended.

A parent is committed (durably) before its first child is sent; its children are ordinary
journaled orders tagged `algo:<parent_id>`, so what a parent has filled is never stored twice:
it is the sum of its children's journaled fills, which reconciliation keeps true to the venue.
After a restart, `active` lists the parents to resume (or cancel, per `execution.resume_algos`)
and `filled` what their children already did. `MemoryParents` is the same interface for a run
nothing restarts (a replay, a test).
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from typing import Protocol

import msgspec

from daemon.journal.store import Journal
from daemon.model import ZERO, ParentOrder

ACTIVE = "active"
CHILD_TAG = "algo:"


def child_tag(parent_id: str) -> str:
    return CHILD_TAG + parent_id


def parent_of(tag: str) -> str | None:
    """The parent id an order's tag names, or None for an order that is no child."""
    return tag[len(CHILD_TAG):] if tag.startswith(CHILD_TAG) else None


class ParentRecord(msgspec.Struct, frozen=True):
    parent_id: str
    spec: ParentOrder
    source: str  # "strategy", "operator" or "flatten"
    created_ns: int
    arrival_mid: Decimal  # the mid when it was accepted: the implementation shortfall's base
    state: str = ACTIVE
    reason: str = ""


class ParentJournal(Protocol):
    async def save(self, record: ParentRecord) -> None:
        """Commit a new parent, durably, before any of its children."""

    async def end(self, parent_id: str, state: str, reason: str) -> None: ...

    async def active(self) -> list[ParentRecord]: ...

    async def filled(self, parent_id: str) -> tuple[Decimal, Decimal]:
        """(quantity, quote notional) its children's journaled fills add up to."""

    async def children(self, parent_id: str) -> list[str]:
        """The client ids of its journaled children."""


class MemoryParents:
    def __init__(self) -> None:
        self.records: dict[str, ParentRecord] = {}

    async def save(self, record: ParentRecord) -> None:
        self.records[record.parent_id] = record

    async def end(self, parent_id: str, state: str, reason: str) -> None:
        rec = self.records.get(parent_id)
        if rec is not None:
            self.records[parent_id] = msgspec.structs.replace(rec, state=state, reason=reason)

    async def active(self) -> list[ParentRecord]:
        return [r for r in self.records.values() if r.state == ACTIVE]

    async def filled(self, parent_id: str) -> tuple[Decimal, Decimal]:
        return ZERO, ZERO  # a run nothing restarts counts its fills as they come

    async def children(self, parent_id: str) -> list[str]:
        return []


class SqliteParents:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    async def save(self, record: ParentRecord) -> None:
        row = (record.parent_id, msgspec.json.encode(record.spec).decode(), record.source,
               record.created_ns, str(record.arrival_mid), record.state, record.reason,
               time.time_ns())
        await self._journal.transaction(lambda db: db.execute(
            "INSERT INTO parents (parent_id, spec, source, created_ns, arrival_mid, state, "
            "reason, updated_ns) VALUES (?,?,?,?,?,?,?,?)", row), durable=True)

    async def end(self, parent_id: str, state: str, reason: str) -> None:
        args = (state, reason, time.time_ns(), parent_id)
        await self._journal.transaction(lambda db: db.execute(
            "UPDATE parents SET state = ?, reason = ?, updated_ns = ? WHERE parent_id = ?",
            args))

    async def active(self) -> list[ParentRecord]:
        def read(db: sqlite3.Connection) -> list[tuple[str, str, str, int, str]]:
            return db.execute("SELECT parent_id, spec, source, created_ns, arrival_mid "
                              "FROM parents WHERE state = ? ORDER BY created_ns",
                              (ACTIVE,)).fetchall()
        rows = await self._journal.transaction(read)
        return [ParentRecord(pid, msgspec.json.decode(spec, type=ParentOrder), source,
                             created, Decimal(mid)) for pid, spec, source, created, mid in rows]

    async def filled(self, parent_id: str) -> tuple[Decimal, Decimal]:
        def read(db: sqlite3.Connection) -> list[tuple[str, str]]:
            return db.execute("SELECT f.qty, f.price FROM fills f JOIN orders o "
                              "ON o.client_order_id = f.client_order_id WHERE o.tag = ?",
                              (child_tag(parent_id),)).fetchall()
        rows = await self._journal.transaction(read)
        qty = sum((Decimal(q) for q, _ in rows), ZERO)
        notional = sum((Decimal(q) * Decimal(p) for q, p in rows), ZERO)
        return qty, notional

    async def children(self, parent_id: str) -> list[str]:
        def read(db: sqlite3.Connection) -> list[tuple[str]]:
            return db.execute("SELECT client_order_id FROM orders WHERE tag = ?",
                              (child_tag(parent_id),)).fetchall()
        return [r[0] for r in await self._journal.transaction(read)]
