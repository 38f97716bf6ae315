"""The order journal: the daemon's durable memory of its orders, fills and latched risk state.

One SQLite file in WAL mode under `daemon.state_dir`. Every order intent is committed, with
its client id, before the request goes out (`synchronous=FULL` for that write: on the disk, not
only in the page cache); acknowledgements, end states and fills follow (`synchronous=NORMAL`:
WAL keeps them across a process crash, and a power cut can only lose records that
reconciliation fetches again from the venue). Fills are keyed by (symbol, trade id), so booking
one twice is a no-op. The journal records; the exchange is the authority on what happened, and
`reconcile` brings the two together.

All SQLite work runs on one dedicated thread with one connection, so the event loop never
blocks on a disk and writes keep their order. A journal that cannot be read, an empty one, or
a missing one where the state directory shows an earlier run is a `JournalError` naming the
file (`journal.schema`): it is never replaced, because a fresh journal would forget live orders.

The journal also keeps a copy of the risk state (the halt latch and what the breakers carry),
`JournalRiskStore`, so that losing `risk_state.json` cannot un-latch a halt.

An order is *settled* once nothing about it can still change: filled in full, rejected, or
ended and checked against the venue's trades. Reconciliation re-checks every unsettled order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from daemon.book.lots import Book
from daemon.events import (
    BrokerEvent,
    FundingPaid,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from daemon.journal import schema
from daemon.journal.schema import FILENAME
from daemon.journal.schema import JournalError as JournalError  # the journal's one error type
from daemon.model import ZERO, Fill, Order, OrderState, OrderType, Side
from daemon.ops import log
from daemon.risk.latch import RiskState, StateError, version_problem

T = TypeVar("T")
_log = log.get("journal")
# The risk state is one JSON document in `meta`, replaced on each save.
_RISK_STATE_KEY = "risk_state"
_OPEN = ("pending_new", "accepted", "partially_filled")


class OrderRecord(msgspec.Struct, frozen=True):
    """One journaled order, as the journal last knew it."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    reduce_only: bool
    tag: str
    created_ns: int
    state: str
    filled_qty: Decimal
    venue_order_id: str
    settled: bool

    @property
    def is_open(self) -> bool:
        return self.state in _OPEN

    def to_order(self) -> Order:
        """The working order this record describes, for the inventory's books."""
        state = (OrderState.PARTIALLY_FILLED if self.filled_qty else
                 OrderState.ACCEPTED if self.venue_order_id else OrderState.PENDING_NEW)
        return Order(self.client_order_id, self.symbol, self.side, self.qty, self.order_type,
                     self.limit_price, self.reduce_only, self.created_ns, state,
                     self.filled_qty, self.venue_order_id, self.tag)


class Snapshot(msgspec.Struct, frozen=True):
    """What a restart needs: every fill (in booking order) and every order not yet settled."""

    fills: list[Fill]
    unsettled: list[OrderRecord]
    funding: list[FundingPaid] = []


class Journal:
    """Open with `await Journal.open(path)`; close with `await journal.close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="journal")
        self._db: sqlite3.Connection | None = None
        self.run_ns = 0  # this run's id: later than every earlier run's, even if the clock fell
        # (device, inode) of the files opened, and who is told of a failed call: the watch
        # (`journal_watch`) halts the daemon when either goes wrong.
        self.file_ids: dict[Path, tuple[int, int]] = {}
        self.on_failure: Callable[[str], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> Journal:
        journal = cls(path)
        try:
            await journal._call(journal._open)
        except BaseException:
            await journal.close()
            raise
        return journal

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except sqlite3.Error as err:
            failure = JournalError(f"journal {self.path}: {err}")
            if self.on_failure is not None:
                self.on_failure(str(failure))
            raise failure from err

    # --- on the journal thread ---------------------------------------------------------------

    def _open(self) -> None:
        try:
            db = self._db = schema.connect(self.path)
            last = db.execute("SELECT value FROM meta WHERE key = 'last_run_ns'").fetchone()
            self.run_ns = max(time.time_ns(), int(last[0]) + 1_000_000 if last else 0)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_run_ns', ?)",
                       (str(self.run_ns),))
            self.file_ids = schema.file_ids(self.path)  # the -wal exists after a write
        except OSError as err:
            raise JournalError(f"journal {self.path}: {err.strerror}") from err
        except sqlite3.DatabaseError as err:
            raise JournalError(f"journal {self.path} is unreadable ({err}); it is not "
                               f"replaced automatically: check the exchange by hand, then "
                               f"move the file aside") from err

    def _tx(self, fn: Callable[[sqlite3.Connection], T], durable: bool = False) -> T:
        db = self._db
        assert db is not None, "journal is closed"
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")

    async def transaction(self, fn: Callable[[sqlite3.Connection], T],
                          durable: bool = False) -> T:
        """Run `fn` in one transaction on the journal's thread (`journal.parents` uses it)."""
        return await self._call(self._tx, fn, durable)

    # --- writes -------------------------------------------------------------------------------

    async def record_intent(self, order: Order) -> None:
        await self.record_intents([order])

    async def record_intents(self, orders: list[Order]) -> None:
        """Commit orders to disk before their requests go out, in one transaction: one fsync
        (`synchronous=FULL`: on the disk, not only in the page cache) for a decision's orders."""
        now = time.time_ns()
        rows = [(o.client_order_id, o.symbol, o.side.value, str(o.qty), o.order_type.value,
                 None if o.limit_price is None else str(o.limit_price), int(o.reduce_only),
                 o.tag, o.created_ns, now, "accepted" if o.venue_order_id else "pending_new",
                 str(o.filled_qty), o.venue_order_id) for o in orders]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT INTO orders (client_order_id, symbol, side, qty, order_type, "
                           "limit_price, reduce_only, tag, created_ns, updated_ns, state, "
                           "filled_qty, venue_order_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        await self._call(self._tx, write, True)

    async def record(self, event: BrokerEvent) -> bool:
        """Journal a broker event; False only for a fill already journaled (a duplicate)."""
        now = time.time_ns()
        match event:
            case OrderFilled(fill=fill):
                return await self._call(self._tx, lambda db: _add_fill(db, fill, now))
            case OrderAccepted(client_order_id=coid, venue_order_id=venue_id):
                await self._call(self._tx, lambda db: db.execute(
                    "UPDATE orders SET venue_order_id = ?, updated_ns = ?, state = CASE state "
                    "WHEN 'pending_new' THEN 'accepted' ELSE state END "
                    "WHERE client_order_id = ?", (venue_id, now, coid)))
            case OrderCancelled(client_order_id=coid):
                await self._end(coid, "cancelled", "", settled=False, now=now)
            case OrderRejected(client_order_id=coid, reason=reason):
                await self._end(coid, "rejected", reason, settled=True, now=now)
            case FundingPaid():
                return await self._call(self._tx, lambda db: db.execute(
                    "INSERT OR IGNORE INTO funding VALUES (?,?,?,?,?)",
                    (event.symbol, event.funding_id, str(event.amount), event.ts_ns,
                     now)).rowcount == 1)
        return True

    async def record_then(self, event: BrokerEvent, apply: Callable[[bool], T]) -> T:
        """Journal an event, then `apply(fresh)` it to the books (`fresh`: `record`'s answer),
        as one step that a cancel cannot split. A stop cancels the task that is booking; once
        the write is queued on the journal thread it happens anyway, so a cancel in between
        left the journal holding what the books never got, and the journal then refused the
        venue's next report of it as a duplicate: a flatten waited on a filled order and sized
        its close from the position before the fill. Here the cancel waits for the write and
        the apply, then propagates."""
        write = asyncio.ensure_future(self.record(event))
        cancelled: asyncio.CancelledError | None = None
        while not write.done():
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError as err:
                if write.cancelled():
                    raise
                cancelled = err
        result = apply(write.result())
        if cancelled is not None:
            raise cancelled
        return result

    async def _end(self, coid: str, state: str, reason: str, settled: bool, now: int) -> None:
        # An order's first end wins: a late "cancelled" must not undo "filled".
        await self._call(self._tx, lambda db: db.execute(
            f"UPDATE orders SET state = ?, reason = ?, settled = ?, updated_ns = ? "
            f"WHERE client_order_id = ? AND state IN {_OPEN}",
            (state, reason, int(settled), now, coid)))

    async def mark_settled(self, client_order_id: str) -> None:
        await self._call(self._tx, lambda db: db.execute(
            "UPDATE orders SET settled = 1, updated_ns = ? WHERE client_order_id = ?",
            (time.time_ns(), client_order_id)))

    async def save_risk_state(self, state: RiskState, durable: bool = True) -> None:
        """Keep this copy of the risk state (`durable`: on the disk before returning)."""
        await asyncio.wrap_future(self.submit_risk_state(state, durable))

    def submit_risk_state(self, state: RiskState, durable: bool
                          ) -> concurrent.futures.Future[None]:
        """Queue a copy of the risk state for the journal thread without waiting for it: for
        callers that cannot await (a halt happens in a signal handler or on a fill). It is
        written in order with everything queued before it; the future reports a failure."""
        doc = msgspec.json.encode(state).decode()

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_RISK_STATE_KEY, doc))

        def run() -> None:
            try:
                self._tx(write, durable)
            except sqlite3.Error as err:
                raise StateError(f"journal {self.path}: cannot save the risk state: {err}"
                                 ) from None
        try:
            return self._pool.submit(run)
        except RuntimeError:  # the pool is shut down: the journal is closed
            raise StateError(f"journal {self.path} is closed: risk state not saved") from None

    # --- reads --------------------------------------------------------------------------------

    async def load_risk_state(self) -> RiskState | None:
        """The journal's copy of the risk state; None if none was ever saved."""
        row = await self._call(self._query_one, "SELECT value FROM meta WHERE key = ?",
                               (_RISK_STATE_KEY,))
        if row is None:
            return None
        try:
            state = msgspec.json.decode(row[0], type=RiskState)
        except msgspec.DecodeError as err:
            raise JournalError(f"journal {self.path}: corrupt risk state ({err}); it may hold "
                               f"a halt latch: inspect it before anything else") from None
        if (problem := version_problem(state)) is not None:
            raise JournalError(f"journal {self.path}: {problem}")
        return state

    async def load(self) -> Snapshot:
        fills = await self._call(self._query, "SELECT client_order_id, trade_id, symbol, side, "
                                 "qty, price, fee_quote, ts_ns, fee_base FROM fills "
                                 "ORDER BY rowid", ())
        funding = await self._call(self._query, "SELECT symbol, funding_id, amount, ts_ns "
                                   "FROM funding ORDER BY rowid", ())
        return Snapshot([_fill(r) for r in fills], await self.unsettled(),
                        [FundingPaid(r[0], r[1], Decimal(r[2]), r[3]) for r in funding])

    async def funding_since_ns(self, symbol: str) -> int | None:
        """Where the venue's funding history is still to be read from: the last settlement
        booked, else the first fill (no position, no funding); None before any fill."""
        row = await self._call(self._query_one, "SELECT MAX(ts_ns) FROM funding WHERE "
                               "symbol = ?", (symbol,))
        if row is not None and row[0] is not None:
            return int(row[0])
        row = await self._call(self._query_one, "SELECT MIN(ts_ns) FROM fills WHERE "
                               "symbol = ?", (symbol,))
        return None if row is None or row[0] is None else int(row[0])

    async def unsettled(self) -> list[OrderRecord]:
        rows = await self._call(self._query, f"SELECT {_ORDER_COLS} FROM orders "
                                "WHERE settled = 0 ORDER BY created_ns", ())
        return [_order(r) for r in rows]

    async def order(self, client_order_id: str) -> OrderRecord | None:
        row = await self._call(self._query_one, f"SELECT {_ORDER_COLS} FROM orders "
                               "WHERE client_order_id = ?", (client_order_id,))
        return None if row is None else _order(row)

    async def fills_of(self, client_order_id: str) -> list[Fill]:
        rows = await self._call(self._query, "SELECT client_order_id, trade_id, symbol, side, "
                                "qty, price, fee_quote, ts_ns, fee_base FROM fills "
                                "WHERE client_order_id = ? ORDER BY rowid", (client_order_id,))
        return [_fill(r) for r in rows]

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self._db is not None, "journal is closed"
        return self._db.execute(sql, args).fetchall()

    def _query_one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        assert self._db is not None, "journal is closed"
        row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
        return row


_ORDER_COLS = ("client_order_id, symbol, side, qty, order_type, limit_price, reduce_only, tag, "
               "created_ns, state, filled_qty, venue_order_id, settled")


def _order(r: tuple[Any, ...]) -> OrderRecord:
    return OrderRecord(r[0], r[1], Side(r[2]), Decimal(r[3]), OrderType(r[4]),
                       None if r[5] is None else Decimal(r[5]), bool(r[6]), r[7], r[8], r[9],
                       Decimal(r[10]), r[11], bool(r[12]))


def _fill(r: tuple[Any, ...]) -> Fill:
    return Fill(r[0], r[1], r[2], Side(r[3]), Decimal(r[4]), Decimal(r[5]), Decimal(r[6]), r[7],
                fee_base=Decimal(r[8]))


def _add_fill(db: sqlite3.Connection, f: Fill, now: int) -> bool:
    cur = db.execute("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (f.symbol, f.trade_id, f.client_order_id, f.side.value, str(f.qty),
                      str(f.price), str(f.fee_quote), str(f.fee_base), f.ts_ns, now))
    if cur.rowcount == 0:
        return False
    row = db.execute("SELECT qty, filled_qty, state FROM orders WHERE client_order_id = ?",
                     (f.client_order_id,)).fetchone()
    if row is not None:
        filled = Decimal(row[1]) + f.qty
        # Filled in full is final: no fill can follow. Otherwise an ended order keeps its end.
        state, settled = ("filled", 1) if filled >= Decimal(row[0]) else (
            "partially_filled" if row[2] in _OPEN else row[2], 0)
        db.execute("UPDATE orders SET filled_qty = ?, state = ?, settled = MAX(settled, ?), "
                   "updated_ns = ? WHERE client_order_id = ?",
                   (str(filled), state, settled, now, f.client_order_id))
    return True


class JournalRiskStore:
    """The journal's copy of the risk state, as a `riskstate.RiskStateStore`.

    `load` answers with what the journal held when the books were restored (read then, before
    trading). `save` does not wait for the disk: the supervisor saves synchronously (a halt
    runs in a signal handler or on a fill) and the event loop must not stall on the journal
    thread; the write is queued in order behind every earlier one, and a failure is logged
    when it happens. `risk_state.json` is written synchronously beside it, so a halt is on
    the disk before the next intent either way."""

    def __init__(self, journal: Journal, saved: RiskState | None) -> None:
        self.path = journal.path
        self._journal = journal
        self._saved = saved

    def load(self) -> RiskState | None:
        return self._saved

    def save(self, state: RiskState, durable: bool = True) -> None:
        future = self._journal.submit_risk_state(state, durable)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop to stall: wait, and fail here
            future.result()
            return
        future.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._report, done, state.halted))

    def _report(self, done: concurrent.futures.Future[None], halted: bool) -> None:
        err = done.exception()
        if err is not None:
            _log.error("risk_state.save_failed", error=str(err), latched=halted,
                       store=str(self.path))
            if self._journal.on_failure is not None:
                self._journal.on_failure(str(err))


def quote_spent(fills: list[Fill], funding: list[FundingPaid] | None = None
                ) -> dict[str, Decimal]:
    """Quote currency the journaled fills took out of the account (negative: brought in), per
    quote asset: on spot, buys cost qty x price, sells return it, fees charged in quote cost
    that. On a swap (a `:` in the symbol) nothing is bought: the margin wallet lost the fees
    and the realized losses (FIFO lots, as the books count them) and paid the funding."""
    spent: dict[str, Decimal] = {}
    swaps: dict[str, Book] = {}
    for f in fills:
        quote = f.symbol.split("/", 1)[1].split(":", 1)[0]
        fee = ZERO if f.fee_base else f.fee_quote
        if ":" in f.symbol:
            realized = swaps.setdefault(f.symbol, Book()).apply(f.signed_qty, f.price)
            spent[quote] = spent.get(quote, ZERO) + fee - realized
        else:
            spent[quote] = spent.get(quote, ZERO) + f.signed_qty * f.price + fee
    for paid in funding or []:
        quote = paid.symbol.split("/", 1)[1].split(":", 1)[0]
        spent[quote] = spent.get(quote, ZERO) - paid.amount
    return spent


def journal_path(state_dir: Path) -> Path:
    return state_dir / FILENAME

