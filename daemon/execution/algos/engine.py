"""The algo engine: starts parent orders, works them as children through the risk gate, and
ends them.

A parent (`model.ParentOrder`) comes from a strategy's actions or the control API. `start`
journals it (durably) before anything is sent; `step`, called by the algos task on the
daemon's clock (a replay's is market time) and right after a strategy starts one, sends the
children that are due: each an ordinary `OrderIntent` tagged `algo:<id>`, through
`OrderRouter.route_all`, so the gate checks, throttles, journals and counts it like any order.
A denied child is logged and counted; the next one catches up (TWAP) or the volume keeps
asking (POV).

A parent never overshoots: a child is only ever what brings filled *plus still working* to
the target. Fills are counted as the books book them (`InventoryManager.tap_fills`); after a
restart, from the journal (`restore`). A halt, a flatten and a stop end every parent
(`cancel_all`) and cancel its working children; an operator's `cancel-algo` ends one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from daemon.book.inventory import InventoryManager
from daemon.clock import Clock
from daemon.config import ExecutionConfig
from daemon.execution.algos import pov, twap
from daemon.execution.algos.parent import CANCELLED, COMPLETE, INCOMPLETE, Parent
from daemon.execution.router import OrderRouter
from daemon.journal.parents import ParentJournal, ParentRecord, child_tag
from daemon.journal.schema import JournalError
from daemon.model import ZERO, Algo, Fill, Order, OrderIntent, OrderState, OrderType, Side
from daemon.model import ParentOrder as ParentSpec
from daemon.model import TradingState as TS
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.risk.gate import Denied, RiskGate

_log = log.get("algos")
# A flatten's own parents (`flatten_twap`): their children are tagged like the flatten's closes
# (which the flatten never cancels), routed as flatten orders, reduce-only, and no halt ends them.
FLATTEN = "flatten"
KEEP_ENDED = 50  # ended parents `status` still shows
ORPHAN_FILLS = 256  # recent fills of unknown orders: a child's that came before it was known
MAX_SLICES = 1000
MAX_DURATION_S = 7 * 86400.0


class AlgoRefused(Exception):
    """A parent that cannot start; the message says why (and names the field)."""


class AlgoEngine:
    def __init__(self, router: OrderRouter, inventory: InventoryManager, gate: RiskGate,
                 clock: Clock, metrics: Metrics, journal: ParentJournal,
                 config: ExecutionConfig) -> None:
        self._router = router
        self._inventory = inventory
        self._gate = gate
        self._clock = clock
        self._metrics = metrics
        self._journal = journal
        self._config = config
        self._parents: OrderedDict[str, Parent] = OrderedDict()
        self._child_of: dict[str, Parent] = {}
        self._child_filled: dict[str, Decimal] = {}
        self._orphans: OrderedDict[str, list[Fill]] = OrderedDict()
        self._to_journal: list[Parent] = []  # ended by a fill, not yet written
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()
        self._routing = False  # a child's request is out: its fills may come before its id
        inventory.tap_fills(self.on_fill)

    # --- starting and ending ------------------------------------------------------------------

    async def start(self, spec: ParentSpec, source: str) -> Parent:
        """Journal a new parent; its first child goes out at the next `step`."""
        problem = self._refusal(spec, source == FLATTEN)
        if problem is not None:
            raise AlgoRefused(problem)
        mid = self._mid(spec.symbol)
        if mid is None:
            raise AlgoRefused(f"symbol: no price for {spec.symbol} yet")
        now = self._clock.now_ns()
        pid = f"{_base36(now // 1_000_000)}-{next(self._seq)}"
        record = ParentRecord(pid, spec, source, now, mid)
        await self._journal.save(record)
        parent = self._parents[pid] = Parent(record)
        _log.info("algo.started", parent_id=pid, algo=parent.algo, symbol=spec.symbol,
                  side=spec.side.value, qty=spec.qty, duration_s=spec.duration_s,
                  slices=spec.slices if spec.algo is Algo.TWAP else None,
                  rate=spec.rate if spec.algo is Algo.POV else None, source=source,
                  arrival_mid=mid)
        self._gauges()
        return parent

    def _refusal(self, spec: ParentSpec, flatten: bool) -> str | None:
        inst = self._inventory.instruments.get(spec.symbol)
        if inst is None:
            return f"symbol: {spec.symbol} is not a configured instrument"
        if flatten:
            pass
        elif self._gate.state is not TS.ACTIVE:
            return f"trading is {self._gate.state.value}: no new parent orders"
        elif sum(p.active for p in self._parents.values()) >= self._config.max_active_algos:
            return f"execution.max_active_algos ({self._config.max_active_algos}) are working"
        if not spec.qty.is_finite() or not 0 < spec.qty <= inst.max_qty * MAX_SLICES:
            return f"qty: must be positive and at most {inst.max_qty * MAX_SLICES}"
        if spec.qty % inst.size_increment:
            return f"qty: must be a multiple of {inst.size_increment}"
        if not 0 < spec.duration_s <= MAX_DURATION_S:
            return f"duration_s: must be in (0, {MAX_DURATION_S:g}]"
        if spec.algo is Algo.TWAP and not 1 <= spec.slices <= MAX_SLICES:
            return f"slices: must be in [1, {MAX_SLICES}]"
        if spec.algo is Algo.POV and not (spec.rate.is_finite() and 0 < spec.rate <= 1):
            return "rate: must be in (0, 1]"
        return None

    async def cancel(self, parent_id: str, reason: str, outcome: str = CANCELLED) -> bool:
        """End a working parent and cancel its working children; False if none such."""
        async with self._lock:
            parent = self._parents.get(parent_id)
            if parent is None or not parent.active:
                return False
            await self._end(parent, outcome, reason)
            await self._cancel_children(parent)
            return True

    async def cancel_all(self, reason: str) -> int:
        """A halt, a flatten or a stop: every parent ends (short of its target: incomplete)."""
        async with self._lock:
            await self._flush()
        ended = 0
        for pid in [p.id for p in self._parents.values() if p.active]:
            ended += await self.cancel(pid, reason, INCOMPLETE)
        return ended

    async def _flush(self) -> None:
        """Journal the ends that fills decided (on the books' tap, where nothing may await)."""
        ended, self._to_journal = self._to_journal, []
        for parent in ended:
            await self._write_end(parent)

    async def _end(self, parent: Parent, outcome: str, reason: str) -> None:
        self._ended(parent, outcome, reason)
        await self._write_end(parent)

    async def _write_end(self, parent: Parent) -> None:
        try:
            await self._journal.end(parent.id, parent.state, parent.reason)
        except JournalError as err:
            # The journal's watch halts the daemon; the parent has ended here all the same,
            # and a restart that still finds it active counts its children's fills.
            _log.error("algo.journal_failed", parent_id=parent.id, error=str(err))

    def _ended(self, parent: Parent, outcome: str, reason: str) -> None:
        parent.state, parent.reason = outcome, reason
        self._metrics.algo_ended.labels(parent.algo, outcome).inc()
        sf = parent.shortfall_bps()
        if sf is not None:
            self._metrics.algo_shortfall.labels(parent.algo).set(float(sf))
        level = _log.info if outcome == COMPLETE else _log.warning
        level("algo.ended", parent_id=parent.id, algo=parent.algo, outcome=outcome,
              reason=reason, filled=parent.filled, target=parent.record.spec.qty,
              children=parent.children, shortfall_bps=None if sf is None else float(sf))
        self._prune()
        self._gauges()

    def _prune(self) -> None:
        ended = [p for p in self._parents.values() if not p.active]
        for old in ended[:max(0, len(ended) - KEEP_ENDED)]:
            if self._working(old):
                continue  # its children's late fills still count
            del self._parents[old.id]
            for coid in [c for c, p in self._child_of.items() if p is old]:
                del self._child_of[coid]
                self._child_filled.pop(coid, None)

    # --- fills and volume ----------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        """Every fill the books book (their tap): a child's counts for its parent at once."""
        parent = self._child_of.get(fill.client_order_id)
        if parent is None:
            if self._routing:
                self._orphans.setdefault(fill.client_order_id, []).append(fill)
                while len(self._orphans) > ORPHAN_FILLS:
                    self._orphans.popitem(last=False)
            return
        self._count(parent, fill)

    def _count(self, parent: Parent, fill: Fill) -> None:
        coid = fill.client_order_id
        self._child_filled[coid] = self._child_filled.get(coid, ZERO) + fill.qty
        parent.filled += fill.qty
        parent.notional += fill.qty * fill.price
        if parent.active and parent.filled >= parent.record.spec.qty:
            self._ended(parent, COMPLETE, "target_filled")
            self._to_journal.append(parent)

    def on_volume(self, symbol: str, volume: float) -> None:
        """Market volume traded on `symbol` (the market data task, per batch): POV's base."""
        if volume <= 0:
            return
        for p in self._parents.values():
            if p.active and p.record.spec.algo is Algo.POV and p.record.spec.symbol == symbol:
                p.volume += Decimal(repr(volume))

    # --- working -------------------------------------------------------------------------------

    def next_due_ns(self) -> int | None:
        """When a parent next wants a look (POV: always, it follows the volume)."""
        now = self._clock.now_ns()
        due = [now if p.record.spec.algo is Algo.POV else p.next_due_ns()
               for p in self._parents.values() if p.active]
        return min(due) if due else None

    async def step(self) -> None:
        """Send what is due now; end what is done. Halted: end everything."""
        async with self._lock:
            await self._flush()
            halted = self._gate.state is TS.HALTED
            for parent in [p for p in self._parents.values() if p.active]:
                if halted and parent.record.source != FLATTEN:
                    await self._end(parent, INCOMPLETE, "halted")
                    await self._cancel_children(parent)
                elif parent.record.spec.algo is Algo.TWAP:
                    await self._work_twap(parent)
                else:
                    await self._work_pov(parent)
            self._gauges()

    async def _work_twap(self, parent: Parent) -> None:
        now = self._clock.now_ns()
        spec = parent.record.spec
        due = parent.next_slice
        while due + 1 < len(parent.times) and parent.times[due + 1] <= now:
            due += 1  # slices missed (a restart, a long step): the next target covers them
        if due >= len(parent.times) or parent.times[due] > now:
            if due >= len(parent.times) and now >= parent.end_ns:
                await self._finish(parent, "schedule_ended")
            return
        if spec.limit_at_touch and self._working(parent):
            await self._cancel_children(parent)  # the last slice's limit makes way for this one
            return
        parent.next_slice = due + 1
        inst = self._inventory.instruments[spec.symbol]
        target = twap.target_through(spec.qty, spec.slices, due, inst.size_increment)
        qty = _floor(target - self._committed(parent), inst.size_increment)
        if qty > 0 and qty >= inst.min_qty:
            await self._send(parent, qty, limit=spec.limit_at_touch)

    async def _work_pov(self, parent: Parent) -> None:
        spec = parent.record.spec
        if self._clock.now_ns() >= parent.end_ns:
            await self._finish(parent, "duration_ended")
            return
        inst = self._inventory.instruments[spec.symbol]
        qty = pov.child_qty(spec.rate, parent.volume, self._committed(parent), spec.qty,
                            inst.size_increment, inst.min_qty)
        if qty > 0:
            await self._send(parent, qty, limit=False)

    async def _finish(self, parent: Parent, reason: str) -> None:
        """Its time is up: cancel what still works, then end it with what it has."""
        working = self._working(parent)
        if any(o.order_type is OrderType.LIMIT for o in working):
            await self._cancel_children(parent)
        if not working:
            await self._end(parent, COMPLETE if parent.remaining <= 0 else INCOMPLETE, reason)

    async def _send(self, parent: Parent, qty: Decimal, limit: bool) -> None:
        spec = parent.record.spec
        flatten = parent.record.source == FLATTEN
        tag = FLATTEN if flatten else child_tag(parent.id)
        intent = OrderIntent(spec.symbol, spec.side, qty, reduce_only=flatten, tag=tag)
        touch = self._inventory.touch(spec.symbol) if limit else None
        if touch is not None:
            price = touch[0] if spec.side is Side.BUY else touch[1]
            intent = OrderIntent(spec.symbol, spec.side, qty, OrderType.LIMIT, price,
                                 reduce_only=flatten, tag=tag)
        parent.children += 1
        self._metrics.algo_children.labels(parent.algo).inc()
        self._routing = True
        try:
            decision = (await self._router.route_all([intent], flatten=flatten))[0]
        finally:
            self._routing = False
        if isinstance(decision, Denied):
            _log.warning("algo.child_denied", parent_id=parent.id, reason=decision.reason.value,
                         detail=decision.detail, qty=qty)
            return
        coid = decision.client_order_id
        self._child_of[coid] = parent
        for fill in self._orphans.pop(coid, []):  # booked before the router returned
            self._count(parent, fill)
        self._orphans.clear()
        _log.info("algo.child", parent_id=parent.id, client_order_id=coid, qty=qty,
                  limit_price=intent.limit_price, filled=parent.filled)
        if not parent.active:
            await self._cancel_children(parent)  # cancelled while this child was in flight

    def _working(self, parent: Parent) -> list[Order]:
        child_of = self._child_of
        return [o for o in self._inventory.working_orders(parent.record.spec.symbol)
                if child_of.get(o.client_order_id) is parent]

    def flattening(self) -> set[str]:
        """Symbols a flatten's TWAP is closing (the flatten leaves them to it meanwhile)."""
        return {p.record.spec.symbol for p in self._parents.values()
                if p.active and p.record.source == FLATTEN}

    def _committed(self, parent: Parent) -> Decimal:
        """Filled, plus what its working children may still fill."""
        open_qty = sum((o.qty - self._child_filled.get(o.client_order_id, ZERO)
                        for o in self._working(parent)), ZERO)
        return parent.filled + open_qty

    async def _cancel_children(self, parent: Parent) -> None:
        for order in self._working(parent):
            if order.state is not OrderState.PENDING_CANCEL:
                await self._router.cancel(order)

    # --- restart, status -----------------------------------------------------------------------

    async def restore(self) -> None:
        """After reconciliation: resume (or, per `execution.resume_algos`, cancel) every parent
        the journal shows working, counting what its children filled before the restart."""
        now = self._clock.now_ns()
        for record in await self._journal.active():
            parent = self._parents[record.parent_id] = Parent(record)
            for coid in await self._journal.children(record.parent_id):
                self._child_of[coid] = parent
            parent.filled, parent.notional = await self._journal.filled(record.parent_id)
            for order in self._working(parent):
                self._child_filled[order.client_order_id] = order.filled_qty
            parent.next_slice = max(0, sum(t <= now for t in parent.times) - 1)
            if record.spec.algo is Algo.POV:
                parent.volume = parent.filled / record.spec.rate  # on schedule from here
            if parent.remaining <= 0:  # its last fill came just before the restart
                await self._end(parent, COMPLETE, "target_filled")
                continue
            if record.source == FLATTEN:  # the flatten it belonged to ended with that run
                await self._end(parent, CANCELLED, "restart: a flatten's parent")
                continue
            if now >= parent.end_ns:  # down past its end: the rest at once would be a block
                await self._end(parent, INCOMPLETE, "restart after its end")
                await self._cancel_children(parent)
                continue
            if not self._config.resume_algos:
                await self._end(parent, CANCELLED, "restart (execution.resume_algos = false)")
                await self._cancel_children(parent)
                continue
            _log.info("algo.resumed", parent_id=parent.id, algo=parent.algo,
                      filled=parent.filled, remaining=parent.remaining,
                      working=[o.client_order_id for o in self._working(parent)])
        self._gauges()

    def status(self) -> list[dict[str, Any]]:
        return [p.status() for p in self._parents.values()]

    def _gauges(self) -> None:
        for algo in Algo:
            active = [p for p in self._parents.values() if p.active and p.algo == algo.value]
            self._metrics.algo_active.labels(algo.value).set(len(active))
            ratios = [float(p.filled / p.record.spec.qty) for p in active]
            self._metrics.algo_progress.labels(algo.value).set(
                sum(ratios) / len(ratios) if ratios else 0.0)

    def _mid(self, symbol: str) -> Decimal | None:
        touch = self._inventory.touch(symbol)
        if touch is not None and touch[0] > 0 and touch[1] >= touch[0]:
            return (touch[0] + touch[1]) / 2
        return self._inventory.mark_price(symbol)


def _floor(qty: Decimal, step: Decimal) -> Decimal:
    return (qty / step).to_integral_value(ROUND_FLOOR) * step if qty > 0 else ZERO


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out
