"""Order routing: intent -> risk gate -> recorded order -> broker.

Used by the routing task for strategy intents and by the flatten for closing orders, so both
take the same path through the gate. The order is committed to the journal and recorded in the
inventory *before* the request goes out: if the request (or the process) dies half way, the
daemon still knows the order may exist, in this run and the next.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter

from daemon import log
from daemon.broker.base import Broker, BrokerError, FatalBrokerError
from daemon.clock import Clock
from daemon.events import OrderRejected
from daemon.inventory import InventoryManager
from daemon.journal import Journal
from daemon.metrics import Metrics
from daemon.model import Order, OrderIntent, OrderState
from daemon.risk import ApprovedOrder, Denied, DenyReason, RiskGate

_log = log.get("execution")
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
                 journal: Journal | None = None) -> None:
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

    async def route(self, intent: OrderIntent, flatten: bool = False) -> ApprovedOrder | Denied:
        now = self._clock.now_ns()
        decision = self._gate.check(intent, self._ids.next(), now, flatten=flatten)
        if isinstance(decision, Denied):
            self._metrics.risk_denials.labels(decision.reason.value).inc()
            self._metrics.order_outcomes["denied"].inc()
            self._log_denial(decision, intent, now)
            return decision
        await self.send(decision, intent.closed_mono_ns)
        return decision

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

    async def send(self, approved: ApprovedOrder, closed_mono_ns: int = 0) -> None:
        """Record the order, then hand it to the broker. `closed_mono_ns`: when the bar behind
        it closed (the intent's stamp), for the bar-to-order latency; 0 when no bar was."""
        order = Order(
            client_order_id=approved.client_order_id, symbol=approved.symbol,
            side=approved.side, qty=approved.qty, order_type=approved.order_type,
            limit_price=approved.limit_price, reduce_only=approved.reduce_only,
            created_ns=approved.approved_ns, tag=approved.tag)
        # Into the books in the same step as the gate's approval (no await between), so a
        # concurrent check sees it working; then on disk before the request starts. A journal
        # that cannot write stops the daemon (JournalError takes the crash path) rather than
        # send an order a restart could forget.
        self._inventory.open_order(order)
        if self._journal is not None:
            try:
                await self._journal.record_intent(order)
            except BaseException:
                self._inventory.order_done(order.client_order_id, OrderState.REJECTED)
                raise
            if not self._gate.may_send(approved):
                await self._withdraw(approved)  # halted while the intent was being written
                return
        _log.info("order.submitted", client_order_id=approved.client_order_id,
                  symbol=approved.symbol, side=approved.side.value, qty=approved.qty,
                  type=approved.order_type.value, limit_price=approved.limit_price,
                  ref_price=approved.ref_price, reduce_only=approved.reduce_only,
                  tag=approved.tag)
        self._metrics.order_outcomes["submitted"].inc()
        if closed_mono_ns:
            latency_s = (self._clock.monotonic_ns() - closed_mono_ns) / 1e9
            self._metrics.bar_to_order.observe(max(latency_s, 0.0))
        try:
            await self._broker.submit(approved)
        except FatalBrokerError:
            raise  # refused credentials: not this order's fault; the daemon must stop (77)
        except BrokerError as err:
            if err.retry_after_s is not None:
                self._gate.pause(self._clock.now_ns() + int(err.retry_after_s * 1e9))
            if self._journal is not None:  # a definite refusal: nothing left to reconcile
                await self._journal.record(OrderRejected(
                    approved.client_order_id, err.reason, str(err), self._clock.now_ns()))
            self._inventory.order_done(approved.client_order_id, OrderState.REJECTED)
            self._metrics.order_outcomes["rejected"].inc()
            self._metrics.exchange_rejections.labels(err.reason).inc()
            _log.error("order.send_failed", client_order_id=approved.client_order_id,
                       reason=err.reason, error=str(err))

    async def _withdraw(self, approved: ApprovedOrder) -> None:
        """Never send an order the trading state no longer allows; journal why, so a restart
        does not look for it on the venue."""
        reason = DenyReason(self._gate.state.value)  # halted or reducing
        assert self._journal is not None
        await self._journal.record(OrderRejected(
            approved.client_order_id, reason.value, "withdrawn before sending: trading is "
            + self._gate.state.value, self._clock.now_ns()))
        self._inventory.order_done(approved.client_order_id, OrderState.REJECTED)
        self._metrics.risk_denials.labels(reason.value).inc()
        self._metrics.order_outcomes["denied"].inc()
        _log.warning("order.withdrawn", client_order_id=approved.client_order_id,
                     reason=reason.value, symbol=approved.symbol, side=approved.side.value,
                     qty=approved.qty)

    async def cancel(self, order: Order) -> None:
        """Ask the broker to cancel one working order; the outcome arrives as an event."""
        self._inventory.order_pending_cancel(order.client_order_id)
        try:
            await self._broker.cancel(order.client_order_id, order.symbol)
        except BrokerError as err:
            _log.error("order.cancel_failed", client_order_id=order.client_order_id,
                       reason=err.reason, error=str(err))
