"""Order routing: intent -> risk gate -> recorded order -> broker.

Used by the routing task for strategy intents and by the flatten for closing orders, so both
take the same path through the gate. The order is committed to the journal and recorded in the
inventory *before* the request goes out: if the request (or the process) dies half way, the
daemon still knows the order may exist, in this run and the next. Replays, the bench and tests
take the same path through an in-memory journal.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable

from daemon.book.inventory import InventoryManager
from daemon.book.strategy_view import OwnedOrders
from daemon.clock import Clock
from daemon.events import OrderRejected
from daemon.journal.base import OrderJournal
from daemon.journal.schema import JournalError
from daemon.model import Order, OrderIntent, OrderState, TradingState
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.risk.gate import ApprovedOrder, Denied, DenyReason, RiskGate
from daemon.venues.base import Broker, BrokerError, FatalBrokerError, UnresolvedOrder

_log = log.get("execution")
# Why an approved order is withdrawn before sending: the state the trading state changed to.
WITHDRAWN_BECAUSE = {TradingState.HALTED: DenyReason.HALTED,
                     TradingState.REDUCING: DenyReason.REDUCING}
# A runaway strategy can be denied thousands of times a second: log the first few of each reason
# per second and a count of the rest (the denial metric counts every one). Log floods hide the
# lines that matter and journald drops lines past its rate limit.
DENIAL_LOGS_PER_S = 10


class ClientIds:
    """Client order ids: `<prefix>-<run>-<seq>`, unique across restarts, at most 36 chars."""

    def __init__(self, prefix: str, run_ns: int | None = None) -> None:
        run = int((run_ns or time.time_ns()) // 1_000_000)  # ms: restarts are seconds apart
        self.prefix = f"{prefix}-{_base36(run)}-"
        self._seq = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self._seq)}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class OrderRouter:
    def __init__(self, gate: RiskGate, inventory: InventoryManager, broker: Broker,
                 clock: Clock, metrics: Metrics, ids: ClientIds,
                 journal: OrderJournal) -> None:
        self._gate = gate
        self._inventory = inventory
        self._broker = broker
        self._clock = clock
        self._metrics = metrics
        self._ids = ids
        self._denial_second = 0
        self._denials_logged: Counter[str] = Counter()
        self._denials_suppressed: Counter[str] = Counter()
        for reason in DenyReason:  # zeros from the start: alerts see a series, not a gap
            metrics.risk_denials.labels(reason.value)
        self._journal = journal
        # The orders the strategy's decisions sent (`route_all(..., owned=True)`): the only ones
        # its cancels may touch. `on_rejected` tells the strategy of its orders that ended here,
        # before reaching the venue (a send the venue refused, a withdrawal).
        self.owned = OwnedOrders(inventory)
        self.on_rejected: Callable[[OrderRejected], None] | None = None
        # A venue's broker waits for each request's answer: the orders of one decision are
        # sent side by side. The paper broker answers at once, in order, so replays stay exact.
        self._concurrent = bool(getattr(broker, "concurrent_submit", False))

    async def route(self, intent: OrderIntent, flatten: bool = False) -> ApprovedOrder | Denied:
        return (await self.route_all([intent], flatten))[0]

    async def route_all(self, intents: list[OrderIntent], flatten: bool = False,
                        closed_mono_ns: int = 0, owned: bool = False
                        ) -> list[ApprovedOrder | Denied]:
        """One decision's intents, in order, each through the gate and into the books. Each
        check counts the orders approved before it as working, and none waits for an earlier
        one's request: on a venue they go out side by side (`_hand_over_together`), so the
        open leg of a flip does not wait a round trip behind the close. The decision's
        orders are committed together (one fsync in the SQLite journal), then handed over. The
        bookkeeping of a hand-over (metrics, the log line) waits until every order of the
        decision is out.
        `closed_mono_ns`: when the bar behind the decision closed (0: none), for the latency.
        `owned`: a strategy's orders, which its cancels may touch later."""
        now = self._clock.now_ns()
        decisions: list[ApprovedOrder | Denied] = []
        to_commit: list[tuple[ApprovedOrder, Order]] = []
        handed: list[tuple[ApprovedOrder, float | None]] = []
        try:
            for intent in intents:
                coid = self._ids.next()
                decision = self._gate.check(intent, coid, now, flatten=flatten)
                decisions.append(decision)
                if isinstance(decision, Denied):
                    self._count_denial(decision, intent, now)
                    if owned and self.on_rejected is not None:
                        self._tell_denied(coid, intent, decision, now)
                    continue
                # Into the books in the same step as the approval (no await between), so the
                # next check, here or concurrent, sees it working.
                order = _order_of(decision)
                self._inventory.open_order(order)
                if owned:
                    self.owned.add(order.client_order_id, order.tag)
                to_commit.append((decision, order))
            if to_commit:
                await self._commit_and_send(to_commit, closed_mono_ns, handed, flatten)
        finally:
            self._account(handed)
        return decisions

    def _tell_denied(self, coid: str, intent: OrderIntent, denied: Denied, now_ns: int) -> None:
        """A strategy hears of its denied intent as a rejection (`denied:<reason>`), under the
        id the gate was asked with, so it can back off instead of asking again at once."""
        assert self.on_rejected is not None
        self.owned.add(coid, intent.tag)
        self.on_rejected(OrderRejected(coid, "denied:" + denied.reason.value, denied.detail,
                                       now_ns))

    def _count_denial(self, decision: Denied, intent: OrderIntent, now_ns: int) -> None:
        self._metrics.risk_denials.labels(decision.reason.value).inc()
        self._metrics.order_outcomes["denied"].inc()
        self._log_denial(decision, intent, now_ns)

    def _log_denial(self, decision: Denied, intent: OrderIntent, now_ns: int) -> None:
        second = now_ns // 1_000_000_000
        if second != self._denial_second:
            if self._denials_suppressed:
                _log.warning("order.denied_suppressed", counts=dict(self._denials_suppressed),
                             note=f"more than {DENIAL_LOGS_PER_S} denials of a reason in 1s")
            self._denial_second = second
            self._denials_logged.clear()
            self._denials_suppressed.clear()
        reason = decision.reason.value
        if self._denials_logged[reason] >= DENIAL_LOGS_PER_S:
            self._denials_suppressed[reason] += 1
            return
        self._denials_logged[reason] += 1
        _log.warning("order.denied", reason=reason, detail=decision.detail,
                     symbol=intent.symbol, side=intent.side.value, qty=intent.qty,
                     order_type=intent.order_type.value, limit_price=intent.limit_price,
                     tag=intent.tag)

    async def _commit_and_send(self, approved: list[tuple[ApprovedOrder, Order]],
                               closed_mono_ns: int,
                               handed: list[tuple[ApprovedOrder, float | None]],
                               flatten: bool) -> None:
        """Journal the orders, then hand each over unless the trading state changed during the
        write. An order the journal could not take is not sent (a restart would forget it) —
        the journal's watch has halted the daemon — except the flatten's closes: with no
        record to keep, less exposure is what is left to protect (the next start's
        reconciliation sees the difference on the venue)."""
        coids = [order.client_order_id for _, order in approved]
        try:
            await self._journal.record_intents([order for _, order in approved])
        except BaseException as err:
            if not (flatten and isinstance(err, JournalError)):
                for coid in coids:
                    self._inventory.order_done(coid, OrderState.REJECTED)
                if not isinstance(err, JournalError):
                    raise
                _log.error("order.not_sent", reason="journal_write_failed", error=str(err),
                           client_order_ids=coids)
                return
            _log.error("order.sent_unrecorded", reason="journal_write_failed", error=str(err),
                       client_order_ids=coids, note="a flatten's close goes out all the same")
        stopped: asyncio.CancelledError | None = None
        try:
            if self._concurrent and len(approved) > 1:
                await self._hand_over_together(approved, closed_mono_ns, handed)
            else:
                for decision, _ in approved:
                    if self._gate.may_send(decision):
                        await self._hand_over(decision, closed_mono_ns, handed)
                    else:
                        await self._withdraw(decision)  # halted while it was being written
        except asyncio.CancelledError as err:
            stopped = err  # no await inside the handler: mypyc's compiled coroutine breaks
        if stopped is not None:
            # A stop during the hand-overs: the broker has those it was given (it looks them
            # up), but the ones never handed over will never be sent. End them as such, or the
            # books keep working orders the venue never saw and the stop's flatten waits on
            # them to its deadline.
            given = {a.client_order_id for a, _ in handed}
            working = {o.client_order_id for o in self._inventory.working_orders()}
            for decision, _ in approved:
                coid = decision.client_order_id
                if coid not in given and coid in working:
                    await self._reject(coid, "not_sent", "the daemon stopped before sending it")
            raise stopped

    async def _hand_over_together(self, approved: list[tuple[ApprovedOrder, Order]],
                                  closed_mono_ns: int,
                                  handed: list[tuple[ApprovedOrder, float | None]]) -> None:
        """A venue's requests at once, none waiting for another's answer (each is journaled
        already). Every hand-over runs to its end — cancelling one mid-request would make its
        outcome unknown — then the first failure that must stop the daemon is raised."""
        sendable: list[ApprovedOrder] = []
        for decision, _ in approved:
            if self._gate.may_send(decision):
                sendable.append(decision)
            else:
                await self._withdraw(decision)  # halted while the intent was being written
        results = await asyncio.gather(
            *(self._hand_over(d, closed_mono_ns, handed) for d in sendable),
            return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _hand_over(self, approved: ApprovedOrder, closed_mono_ns: int,
                         handed: list[tuple[ApprovedOrder, float | None]]) -> None:
        """Give one order to the broker; `handed` collects it for `_account`. The bar-to-order
        latency is taken here, from `closed_mono_ns` (when the bar behind it closed; 0 when no
        bar was) to the hand-over."""
        latency_s = None
        if closed_mono_ns:
            latency_s = max((self._clock.monotonic_ns() - closed_mono_ns) / 1e9, 0.0)
        entry = (approved, latency_s)
        handed.append(entry)
        try:
            await self._broker.submit(approved)
        except FatalBrokerError:
            raise  # refused credentials: not this order's fault; the daemon must stop (77)
        except BrokerError as err:
            handed.remove(entry)
            self._account([entry])  # its "submitted" line before the failure's
            await self._send_failed(approved, err)

    def _account(self, handed: list[tuple[ApprovedOrder, float | None]]) -> None:
        for approved, latency_s in handed:
            self._metrics.order_outcomes["submitted"].inc()
            if latency_s is not None:
                self._metrics.bar_to_order.observe(latency_s)
            if _log.info_enabled:
                _log.info("order.submitted", client_order_id=approved.client_order_id,
                          symbol=approved.symbol, side=approved.side.value, qty=approved.qty,
                          type=approved.order_type.value, limit_price=approved.limit_price,
                          ref_price=approved.ref_price, reduce_only=approved.reduce_only,
                          tag=approved.tag)
        handed.clear()

    async def _send_failed(self, approved: ApprovedOrder, err: BrokerError) -> None:
        if err.retry_after_s is not None:
            self._gate.pause(self._clock.now_ns() + int(err.retry_after_s * 1e9))
        self._metrics.order_outcomes["rejected"].inc()
        self._metrics.exchange_rejections.labels(err.reason).inc()
        _log.error("order.send_failed", client_order_id=approved.client_order_id,
                   reason=err.reason, error=str(err))
        await self._reject(approved.client_order_id, err.reason, str(err))

    async def _withdraw(self, approved: ApprovedOrder) -> None:
        """Never send an order the trading state no longer allows; journal why, so a restart
        does not look for it on the venue."""
        reason = WITHDRAWN_BECAUSE[self._gate.state]
        self._metrics.risk_denials.labels(reason.value).inc()
        self._metrics.order_outcomes["denied"].inc()
        _log.warning("order.withdrawn", client_order_id=approved.client_order_id,
                     reason=reason.value, symbol=approved.symbol, side=approved.side.value,
                     qty=approved.qty)
        await self._reject(approved.client_order_id, reason.value,
                           "withdrawn before sending: trading is " + self._gate.state.value)

    async def _reject(self, coid: str, reason: str, message: str) -> None:
        """End an order that never reached the venue: journaled as a definite refusal (nothing
        left to reconcile) and out of the books in one step that a stop cannot split, or the
        books would keep a working order the venue never saw and a flatten would wait on it."""
        event = OrderRejected(coid, reason, message, self._clock.now_ns())

        def end(_: bool) -> None:
            self._inventory.order_done(coid, OrderState.REJECTED)

        await self._journal.record_then(event, end)
        if self.on_rejected is not None:
            self.on_rejected(event)

    def unresolved_orders(self) -> list[UnresolvedOrder]:
        """Orders handed over whose create had no clear outcome yet (for `/status`)."""
        return self._broker.unresolved_orders()

    async def cancel(self, order: Order) -> None:
        """Ask the broker to cancel one working order; the outcome arrives as an event."""
        self._inventory.order_pending_cancel(order.client_order_id)
        try:
            await self._broker.cancel(order.client_order_id, order.symbol)
        except BrokerError as err:
            _log.error("order.cancel_failed", client_order_id=order.client_order_id,
                       reason=err.reason, error=str(err))


def _order_of(approved: ApprovedOrder) -> Order:
    return Order(
        client_order_id=approved.client_order_id, symbol=approved.symbol, side=approved.side,
        qty=approved.qty, order_type=approved.order_type, limit_price=approved.limit_price,
        reduce_only=approved.reduce_only, created_ns=approved.approved_ns, tag=approved.tag,
        time_in_force=approved.time_in_force)
