"""Flatten: cancel every working order, close every position through the risk gate, and keep
re-checking until the books are flat or the deadline passes.

The gate is put in REDUCING first (HALTED stays HALTED), so nothing here can add risk; closing
orders are marked `flatten` so a halt cannot block them. A close bigger than one order may be
(`risk.max_order_notional`, the venue's max size) goes out in pieces, one at a time, sized so
that the last piece is still big enough for the venue to accept.

With `shutdown.flatten_twap_s` set, a position bigger than one order is first closed by a TWAP
(`flatten_twap`) on a live clock; the loop below leaves its symbol to it until it ends.

Used by the stop and crash paths after trading and, while trading continues, by a halt (breaker,
kill switch, control API): the same code either way.

A round that raises (an answer nothing expected, a journal that cannot write) is logged
(`flatten.step_failed`) and the next round tries again: the flatten ends only flat or at its
deadline, never of one bad reply. Only refused credentials end it early (nothing can be sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from daemon.book.inventory import InventoryManager
from daemon.clock import Clock, stepper
from daemon.execution import flatten_twap
from daemon.execution.algos.engine import FLATTEN, AlgoEngine
from daemon.execution.router import OrderRouter
from daemon.model import MarketKind, OrderIntent, Side, TradingState
from daemon.ops import log
from daemon.ops.log_limit import LimitedLog
from daemon.risk.gate import RiskGate
from daemon.venues.base import Broker, BrokerError, FatalBrokerError

_log = log.get("shutdown")
RECHECK_S = 0.25
# A cancel that has not taken effect by then is asked again: a request can fail after the
# broker's own retries, and an order left working would hold the flatten to its deadline.
RECANCEL_S = 2.0
RECANCEL_NS = int(RECANCEL_S * 1e9)
FLATTEN_TAG = FLATTEN  # the flatten's closes, and its TWAP's children
VENUE_CHECK_S = 10.0  # asking the venue whether it agrees the account is flat


async def flatten(router: OrderRouter, gate: RiskGate, inventory: InventoryManager,
                  clock: Clock, timeout_s: float, reason: str = "shutdown",
                  algos: AlgoEngine | None = None, twap_s: float = 0.0) -> bool:
    """Return True once flat (no position, no working order); False at the deadline."""
    if gate.state is not TradingState.HALTED:
        gate.set_state(TradingState.REDUCING)
    deadline = clock.monotonic_ns() + int(timeout_s * 1e9)
    asked: dict[str, int] = {}  # client id -> when its cancel was last requested
    failures = LimitedLog(_log, "flatten.step_failed", burst=3, level="error")
    if algos is not None:
        await _guarded(algos.cancel_all(reason), failures)  # no parent adds to what we close
    cancelled = await _guarded(_cancel_others(router, inventory, clock, asked), failures)
    _log.info("flatten.started", reason=reason, cancel_requests=cancelled, timeout_s=timeout_s,
              positions={p.symbol: p.qty for p in inventory.positions() if p.qty})
    twap_until = None
    if algos is not None and twap_s > 0 and stepper(clock) is None and await _guarded(
            flatten_twap.start(algos, inventory, gate.config.max_order_notional, twap_s), failures):
        twap_until = clock.monotonic_ns() + int((twap_s + flatten_twap.GRACE_S) * 1e9)
    while True:
        if inventory.is_flat():
            return True
        by_twap: set[str] = set()
        if algos is not None and twap_until is not None:
            if clock.monotonic_ns() < twap_until:
                await _guarded(algos.step(), failures)
                by_twap = algos.flattening()
            if not by_twap:  # done, or out of time: what is left goes the fast way
                await _guarded(algos.cancel_all("flatten_twap_ended"), failures)
                twap_until = None
        await _guarded(_cancel_others(router, inventory, clock, asked), failures)
        await _guarded(_close_positions(router, gate, inventory, by_twap), failures)
        remaining_s = (deadline - clock.monotonic_ns()) / 1e9
        if remaining_s <= 0:
            return inventory.is_flat()
        await inventory.wait_changed(min(remaining_s, RECHECK_S))


async def _guarded(step: Coroutine[Any, Any, int | None], failures: LimitedLog) -> int:
    """Run one step of a round; a failure is logged and the next round tries again."""
    try:
        return await step or 0
    except FatalBrokerError:
        raise  # refused credentials: nothing more can be sent (exit 77)
    except Exception as err:
        failures.hit(error=repr(err), exc_info=err, note="the flatten goes on to its deadline")
        return 0


async def _close_positions(router: OrderRouter, gate: RiskGate,
                           inventory: InventoryManager, skip: set[str]) -> int:
    """One closing order per instrument with a position and no order working (and no TWAP of
    the flatten's closing it: `skip`); re-sent only after the last one finished. Return how
    many were routed."""
    routed = 0
    for p in inventory.positions():
        qty = inventory.closable_qty(p.symbol)
        if qty and p.symbol not in skip and not inventory.working_orders(p.symbol):
            side = Side.of(-p.qty)
            qty = gate.close_piece(p.symbol, side, qty)
            intent = OrderIntent(p.symbol, side, qty, reduce_only=True, tag=FLATTEN_TAG)
            await router.route(intent, flatten=True)
            routed += 1
    return routed


async def _cancel_others(router: OrderRouter, inventory: InventoryManager, clock: Clock,
                         asked: dict[str, int]) -> int:
    """Ask to cancel every working order that is not one of the flatten's own closes, again
    for any whose last request is RECANCEL_S old. Return how many requests went out."""
    now = clock.monotonic_ns()
    due = [o for o in inventory.working_orders() if o.tag != FLATTEN_TAG
           and now - asked.get(o.client_order_id, now - RECANCEL_NS) >= RECANCEL_NS]
    for order in due:
        if order.client_order_id in asked:
            _log.warning("flatten.recancel", client_order_id=order.client_order_id)
        asked[order.client_order_id] = now
        await router.cancel(order)
    return len(due)


async def venue_flat(broker: Broker, inventory: InventoryManager) -> bool:
    """On swaps the venue has the last word on "flat": its position per symbol (the whole
    account's, whoever opened it) must be zero and no order of ours open. A venue that does
    not answer cannot confirm it. Spot keeps the books' word (dust is reported, not traded)."""
    swaps = [s for s, i in inventory.instruments.items() if i.kind is MarketKind.MARGIN]
    if not swaps:
        return True
    try:
        async with asyncio.timeout(VENUE_CHECK_S):
            held = await broker.query_positions(swaps)
            working = await broker.query_open_orders(swaps)
    except (BrokerError, TimeoutError) as err:
        _log.error("shutdown.venue_unconfirmed", error=repr(err),
                   note="the venue did not confirm the account is flat")
        return False
    left = {s: q for s, q in held.items() if q}
    if left or working:
        _log.error("shutdown.venue_not_flat", positions=left,
                   open_orders=[o.client_order_id for o in working])
        return False
    return True
