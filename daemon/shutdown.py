"""Flatten: cancel every working order, close every position through the risk gate, and keep
re-checking until the books are flat or the deadline passes.

The gate is put in REDUCING first (HALTED stays HALTED), so nothing here can add risk; closing
orders are marked `flatten` so a halt cannot block them. A close bigger than one order may be
(`risk.max_order_notional`, the venue's max size) goes out in pieces, one at a time, sized so
that the last piece is still big enough for the venue to accept.

Used by the stop and crash paths after trading and, while trading continues, by a halt (breaker,
kill switch, control API): the same code either way.
"""

from __future__ import annotations

from daemon import log
from daemon.clock import Clock
from daemon.config import TradingState
from daemon.execution import OrderRouter
from daemon.inventory import InventoryManager
from daemon.model import OrderIntent, Side
from daemon.risk import RiskGate

_log = log.get("shutdown")
RECHECK_S = 0.25


async def flatten(router: OrderRouter, gate: RiskGate, inventory: InventoryManager,
                  clock: Clock, timeout_s: float, reason: str = "shutdown") -> bool:
    """Return True once flat (no position, no working order); False at the deadline."""
    if gate.state is not TradingState.HALTED:
        gate.set_state(TradingState.REDUCING)
    deadline = clock.monotonic_ns() + int(timeout_s * 1e9)
    cancelled = await router.cancel_all()
    _log.info("flatten.started", reason=reason, cancel_requests=cancelled, timeout_s=timeout_s,
              positions={p.symbol: p.qty for p in inventory.positions() if p.qty})
    while True:
        if inventory.is_flat():
            return True
        for p in inventory.positions():
            # One closing order at a time per instrument; re-send only after it finished.
            qty = inventory.closable_qty(p.symbol)
            if qty and not inventory.working_orders(p.symbol):
                side = Side.of(-p.qty)
                qty = gate.close_piece(p.symbol, side, qty)
                intent = OrderIntent(p.symbol, side, qty, reduce_only=True, tag="flatten")
                await router.route(intent, flatten=True)
        remaining_s = (deadline - clock.monotonic_ns()) / 1e9
        if remaining_s <= 0:
            return inventory.is_flat()
        await inventory.wait_changed(min(remaining_s, RECHECK_S))
