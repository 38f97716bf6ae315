"""Reconciliation: the journal's memory against the venue's record, before trading and while it.

Startup (`restore`, then `startup`, before any trading task runs):
1. rebuild the books from the journal: replay every journaled fill, reopen every order the
   journal believes open, re-apply a latched HALT;
2. ask the venue about every unsettled order by client id: book its acknowledgement, every
   trade the journal lacks (each trade id once), and its end; an order the venue does not know
   once the lookup window after its intent has passed never arrived and is ended as
   `lost_in_transit`; one still open is handed to the broker to follow;
3. the trades the journal holds for each checked order must all be the venue's: an extra one
   is drift;
4. open orders on the venue with our client-id prefix that the journal lacks are cancelled or
   adopted (`reconcile.unknown_orders`);
5. on spot, the position the journal's fills add up to, plus the allotted base
   (`exchange.allotted_base`), must not exceed what the venue holds (free + locked) by more
   than `reconcile.tolerance_ratio` of it; on a swap, the signed position must equal the
   venue's (`positionAmt`) within `tolerance_ratio` of the larger of the two: the venue's
   position is the whole account's, so any difference is drift (an order placed behind the
   daemon's back, a fill it missed, a liquidation).
Venue errors are retried with backoff; drift is not retried quickly. Until a pass is clean the
daemon is not ready and trades nothing.

Periodic (`run`, every `reconcile.interval_s` in the trading group): the same checks for
ended-but-unsettled orders, unknown open orders and holdings; working orders are followed by
the broker itself. Drift seen on two consecutive passes (a fill on its way can look like drift
once) is logged, counted, and halts through the supervisor (the latch every breaker uses).
Once the gate is no longer HALTED (an operator resumed, or cleared it otherwise) the check is
armed again: drift still there halts again, by the same seen-twice rule.

While trading, what a pass books (a fill or an order's end the streams missed) is handed on
like the fills task's events (`on_booked`, set by the app): the strategy's `on_fill` and
`on_order` see an order's REST-booked fill or end as they would a streamed one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from daemon.book.inventory import InventoryManager
from daemon.config import ReconcileConfig, UnknownOrders
from daemon.events import (
    BrokerEvent,
    FundingPaid,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from daemon.execution.booking import book
from daemon.journal.store import Journal, JournalError, JournalRiskStore, OrderRecord
from daemon.model import ZERO, MarketKind, Order, OrderState, TradingState, UnknownInstrument
from daemon.ops import log
from daemon.ops.health import HealthState
from daemon.ops.metrics import Metrics
from daemon.retry import backoff_s
from daemon.risk.gate import RiskGate
from daemon.risk.latch import RiskStateStore
from daemon.venues.base import Broker, BrokerError, FatalBrokerError, VenueOrder

_log = log.get("reconcile")
CONFIRM_DELAY_S = 2.0  # a suspected drift is checked again this soon
POLL_S = 0.25  # waiting for an order that may still appear on the venue


class Incomplete(BrokerError):
    """The venue's answer is not final yet (trades still arriving): ask again later."""


class Reconciler:
    def __init__(self, journal: Journal, broker: Broker, inventory: InventoryManager,
                 gate: RiskGate, metrics: Metrics, health: HealthState, cfg: ReconcileConfig,
                 run_prefix: str, halt: Callable[[str], object],
                 on_restored: Callable[[RiskStateStore], None]) -> None:
        self._journal = journal
        self._halt = halt
        self._on_restored = on_restored
        self._broker = broker
        self._inventory = inventory
        self._gate = gate
        self._metrics = metrics
        self._health = health
        self._cfg = cfg
        self._run_prefix = run_prefix
        self._stats: dict[str, int] = {}
        # Shown every event a pass books anew (the signal engine, while trading).
        self.on_booked: Callable[[BrokerEvent], None] | None = None

    # --- startup ---------------------------------------------------------------------------

    async def restore(self) -> None:
        """Rebuild the books from the journal: fills first, then the orders still open. The
        inventory's listener (the risk supervisor) is not told of the replay; once the books are
        whole, `on_restored` hands it the journal's copy of the risk state."""
        snap = await self._journal.load()
        durable = JournalRiskStore(self._journal, await self._journal.load_risk_state())
        try:
            with self._inventory.restoring():
                for fill in snap.fills:
                    self._inventory.apply_fill(fill)
                for rec in snap.unsettled:
                    if rec.is_open:
                        self._inventory.open_order(rec.to_order())
                for paid in snap.funding:
                    self._inventory.apply_funding(paid.symbol, paid.funding_id, paid.amount)
        except UnknownInstrument as err:
            raise JournalError(f"journal {self._journal.path} holds orders or fills of "
                               f"{err.args[0]}, which is not in market.instruments: keep it "
                               f"configured until it is flat") from None
        self._on_restored(durable)
        _log.info("journal.loaded", path=str(self._journal.path), fills=len(snap.fills),
                  unsettled_orders=len(snap.unsettled),
                  open_orders=[o.client_order_id for o in self._inventory.working_orders()],
                  positions=self._positions())

    async def startup(self, stop: asyncio.Event) -> bool:
        """Reconcile until a pass is clean (True) or a stop arrives first (False)."""
        attempt = 0
        while not stop.is_set():
            started = time.monotonic()
            self._stats = {"orders_checked": 0, "fills_booked": 0, "lost": 0, "adopted": 0,
                           "cancelled_unknown": 0}
            try:
                drifts = await self._pass(startup=True)
            except FatalBrokerError:
                raise
            except BrokerError as err:
                attempt += 1
                pause = backoff_s(attempt, 0.5, 10.0)
                _log.warning("reconcile.retry", attempt=attempt, error=str(err),
                             pause_s=round(pause, 3))
                await _wait(stop, pause)
                continue
            if not drifts:
                self._succeeded()
                _log.info("reconcile.complete", run=self._run_prefix, positions=self._positions(),
                          open_orders=[o.client_order_id for o in self._inventory.working_orders()],
                          duration_s=round(time.monotonic() - started, 3), **self._stats)
                return True
            self._metrics.reconciliation_drift.inc()
            _log.error("reconcile.failed", drifts=drifts, positions=self._positions(),
                       action="not trading; checking again", retry_s=self._cfg.interval_s)
            await _wait(stop, self._cfg.interval_s)
        return False

    # --- periodic --------------------------------------------------------------------------

    async def run(self) -> None:
        log.bind_task("reconcile")
        suspect = 0
        tripped = False
        while True:
            await asyncio.sleep(CONFIRM_DELAY_S if suspect else self._cfg.interval_s)
            if tripped and self._gate.state is not TradingState.HALTED:
                # Resumed (or the halt cleared) while drift may persist: it must be able to
                # halt again, after being seen twice like any drift.
                suspect, tripped = 0, False
                _log.info("reconcile.rearmed", state=self._gate.state.value)
            try:
                drifts = await self._pass(startup=False)
            except FatalBrokerError:
                raise
            except (BrokerError, JournalError) as err:  # a lost journal halts by its watch
                _log.warning("reconcile.skipped", error=str(err))
                continue
            if not drifts:
                suspect, tripped = 0, False
                self._succeeded()
                continue
            suspect += 1
            if suspect < 2:
                _log.warning("reconcile.suspect", drifts=drifts, recheck_s=CONFIRM_DELAY_S)
            elif not tripped:
                tripped = True
                await self._trip(drifts)

    async def _trip(self, drifts: list[str]) -> None:
        self._metrics.reconciliation_drift.inc()
        # The supervisor halts, latches and flattens: the same latch as every other breaker.
        self._halt(("reconciliation drift: " + "; ".join(drifts))[:1000])
        _log.error("reconcile.drift", drifts=drifts, positions=self._positions(),
                   state=TradingState.HALTED.value)

    def _succeeded(self) -> None:
        self._metrics.last_reconciliation.set(time.time())
        self._health.reconciled = True

    # --- one pass --------------------------------------------------------------------------

    async def _pass(self, startup: bool) -> list[str]:
        drifts: list[str] = []
        working = {o.client_order_id for o in self._inventory.working_orders()}
        for rec in await self._journal.unsettled():
            if startup or rec.client_order_id not in working:
                drifts += await self._check_order(rec, startup)
        symbols = list(self._inventory.instruments)
        for vo in await self._broker.query_open_orders(symbols):
            if await self._journal.order(vo.client_order_id) is not None:
                continue
            if startup:
                await self._unknown(vo)
            else:
                drifts.append(f"open order {vo.client_order_id} on the venue is not in the "
                              f"journal (another daemon with our client-id prefix?)")
        await self._book_funding()
        return drifts + await self._check_holdings() + await self._check_positions()

    async def _check_order(self, rec: OrderRecord, startup: bool) -> list[str]:
        coid = rec.client_order_id
        self._count("orders_checked")
        vo = await self._broker.query_order(coid, rec.symbol)
        window_end_s = rec.created_ns / 1e9 + self._broker.lookup_window_s
        while vo is None and rec.is_open and startup and time.time() < window_end_s:
            # The intent was journaled before its request: the request may still land.
            await asyncio.sleep(min(POLL_S, max(0.0, window_end_s - time.time())))
            vo = await self._broker.query_order(coid, rec.symbol)
        if vo is None:
            if rec.is_open and time.time() < window_end_s:
                return []  # too early to tell; the next pass decides
            if rec.is_open:
                self._count("lost")
                _log.warning("reconcile.order_lost", client_order_id=coid,
                             note="journaled, never reached the venue")
                await self._book(OrderRejected(coid, "lost_in_transit", "not on the venue "
                                               "after the lookup window", time.time_ns()))
            await self._journal.mark_settled(coid)
            return []
        return await self._settle(vo, rec)

    async def _settle(self, vo: VenueOrder, rec: OrderRecord | None) -> list[str]:
        """Book what the venue says about one order; settle it if it has ended."""
        coid, now = vo.client_order_id, time.time_ns()
        if vo.venue_order_id:
            await self._book(OrderAccepted(coid, vo.venue_order_id, now))
        venue_fills = await self._broker.query_fills(vo) if vo.filled_qty else []
        for fill in venue_fills:
            await self._book(OrderFilled(fill))
        if sum((f.qty for f in venue_fills), ZERO) < vo.filled_qty:
            raise Incomplete("trades_pending", f"{coid}: the venue lists fewer trades than "
                             f"its filled quantity {vo.filled_qty}")
        venue_ids = {f.trade_id for f in venue_fills}
        extra = [f.trade_id for f in await self._journal.fills_of(coid)
                 if f.trade_id not in venue_ids]
        if extra:
            return [f"{coid}: journaled trades {extra} are not the venue's"]
        if vo.status == "open":
            self._broker.track(vo)
            if rec is not None and not rec.is_open:
                return [f"{coid}: ended in the journal ({rec.state}) but open on the venue"]
            return []
        if vo.status == "cancelled":
            await self._book(OrderCancelled(coid, now))
        elif vo.status == "rejected":
            await self._book(OrderRejected(coid, "venue_rejected", "rejected on the venue", now))
        await self._journal.mark_settled(coid)
        return []

    async def _unknown(self, vo: VenueOrder) -> None:
        """An open order of ours (by prefix) that the journal never recorded."""
        coid = vo.client_order_id
        if self._cfg.unknown_orders is UnknownOrders.ADOPT:
            order = Order(coid, vo.symbol, vo.side, vo.qty, vo.order_type, vo.limit_price, False,
                          time.time_ns(), OrderState.ACCEPTED, ZERO, vo.venue_order_id,
                          tag="adopted")
            await self._journal.record_intent(order)
            self._inventory.open_order(order)
            self._count("adopted")
            _log.warning("reconcile.unknown_order_adopted", client_order_id=coid,
                         symbol=vo.symbol, side=vo.side.value, qty=vo.qty, filled=vo.filled_qty)
            await self._settle(vo, None)
            return
        self._count("cancelled_unknown")
        _log.warning("reconcile.unknown_order_cancelled", client_order_id=coid,
                     symbol=vo.symbol, side=vo.side.value, qty=vo.qty, filled=vo.filled_qty,
                     note="not in the journal: its fills are not booked as ours")
        await self._broker.cancel(coid, vo.symbol)

    async def _check_holdings(self) -> list[str]:
        positions: dict[str, Decimal] = {}
        for symbol, inst in self._inventory.instruments.items():
            if inst.kind is MarketKind.SPOT:
                # What the daemon holds: its fills' position counts from the allotted base.
                positions[inst.base] = positions.get(inst.base, ZERO) + \
                    self._inventory.position(symbol) + self._inventory.allotted_base(symbol)
        if not positions:
            return []
        held = await self._broker.query_holdings(sorted(positions))
        drifts = []
        for asset, position in positions.items():
            if asset in held and position - held[asset] > self._cfg.tolerance_ratio * abs(
                    position):
                drifts.append(f"{asset}: position {position} exceeds the venue's holding "
                              f"{held[asset]}")
        return drifts

    async def _check_positions(self) -> list[str]:
        swaps = [s for s, i in self._inventory.instruments.items()
                 if i.kind is MarketKind.MARGIN]
        if not swaps:
            return []
        venue = await self._broker.query_positions(swaps)
        drifts = []
        for symbol, held in venue.items():
            ours = self._inventory.position(symbol)
            if abs(ours - held) > self._cfg.tolerance_ratio * max(abs(ours), abs(held)):
                drifts.append(f"{symbol}: position {ours} is not the venue's {held}")
        return drifts

    async def _book_funding(self) -> None:
        """The backstop for funding: the venue's history since the last settlement booked
        (or the first fill), each settlement booked once by its id."""
        for symbol, inst in self._inventory.instruments.items():
            if inst.kind is not MarketKind.MARGIN:
                continue
            since_ns = await self._journal.funding_since_ns(symbol)
            if since_ns is None:
                continue  # never positioned: nothing can have been paid
            for paid in await self._broker.query_funding(symbol, since_ns):
                await self._book(paid)

    async def _book(self, event: OrderAccepted | OrderCancelled | OrderFilled |
                    OrderRejected | FundingPaid) -> None:
        before = self._inventory.fill_count
        fresh = await book(event, self._inventory, self._metrics, self._journal)
        if self._inventory.fill_count > before:
            self._count("fills_booked")
        if fresh and self.on_booked is not None:
            self.on_booked(event)

    def _count(self, key: str) -> None:
        self._stats[key] = self._stats.get(key, 0) + 1

    def _positions(self) -> dict[str, Decimal]:
        return {p.symbol: p.qty for p in self._inventory.positions()}


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once for a stop signal."""
    try:
        async with asyncio.timeout(seconds):  # wait_for can swallow a cancel on 3.11
            await stop.wait()
    except TimeoutError:
        pass
