"""A strategy's actions beyond new orders: cancel, cancel-all and replace, in the order given.

New orders go through the router (and so the risk gate) as always; consecutive ones are routed
together. Cancels bypass the gate (less risk is never refused) but only ever touch the
strategy's own working orders (`OrderRouter.owned`): not the flatten's closes, not orders
restored from an earlier run, not another instance's. A refused cancel is logged and counted,
and nothing is sent.

A parent order (`ParentOrder`: TWAP, POV) is handed to the algo engine, which journals it and
sends its first child at once, at this decision's tick; its children pass the gate one by one.
A refused parent is logged, and nothing is sent.

A replace is a cancel, then, once the books show the old order ended, the new order through
the gate: the two are never working at once, so the gate never counts both, and a replace can
never double the exposure it moves. If the old order filled before the cancel took, or the
cancel is not confirmed within `REPLACE_WAIT_S`, the new order is not sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.book.inventory import InventoryManager
from daemon.clock import Clock
from daemon.execution.algos.engine import AlgoEngine, AlgoRefused
from daemon.execution.router import OrderRouter
from daemon.model import (
    Action,
    Cancel,
    CancelAll,
    Order,
    OrderIntent,
    OrderState,
    ParentOrder,
    Replace,
)
from daemon.ops import log

_log = log.get("execution")
REPLACE_WAIT_S = 10.0


class StrategyActions:
    def __init__(self, router: OrderRouter, inventory: InventoryManager, clock: Clock,
                 algos: AlgoEngine | None = None) -> None:
        self._router = router
        self._algos = algos
        self._inventory = inventory
        self._clock = clock
        self.refused_cancels = 0

    async def run(self, actions: Sequence[Action], closed_mono_ns: int = 0) -> None:
        batch: list[OrderIntent] = []
        for action in actions:
            if isinstance(action, OrderIntent):
                batch.append(action)
                continue
            if batch:
                await self._router.route_all(batch, closed_mono_ns=closed_mono_ns, owned=True)
                batch = []
            if isinstance(action, Cancel):
                await self.cancel(action.client_order_id)
            elif isinstance(action, CancelAll):
                for order in self._own_working(action.symbol):
                    await self._router.cancel(order)
            elif isinstance(action, Replace):
                await self._replace(action, closed_mono_ns)
            elif isinstance(action, ParentOrder):
                await self._start(action)
        if batch:
            await self._router.route_all(batch, closed_mono_ns=closed_mono_ns, owned=True)

    async def cancel(self, client_order_id: str) -> bool:
        """Cancel one of the strategy's working orders; False (and nothing sent) for an order
        that is not its own or no longer working."""
        order = self._working(client_order_id)
        if order is None or client_order_id not in self._router.owned:
            self.refused_cancels += 1
            _log.warning("strategy.cancel_refused", client_order_id=client_order_id,
                         reason="not_working" if order is None else "not_own")
            return False
        if order.state is not OrderState.PENDING_CANCEL:
            await self._router.cancel(order)
        return True

    async def _start(self, parent: ParentOrder) -> None:
        if self._algos is None:
            _log.warning("strategy.parent_refused", reason="no algo engine", symbol=parent.symbol)
            return
        try:
            await self._algos.start(parent, "strategy")
        except AlgoRefused as err:
            _log.warning("strategy.parent_refused", reason=str(err), symbol=parent.symbol,
                         algo=parent.algo.value, qty=parent.qty)
            return
        await self._algos.step()

    async def _replace(self, action: Replace, closed_mono_ns: int) -> None:
        old = action.client_order_id
        # The books' own record: its state is final once it leaves the working orders.
        order = self._working(old)
        if order is None or not await self.cancel(old):
            return
        deadline_ns = self._clock.monotonic_ns() + int(REPLACE_WAIT_S * 1e9)
        while order.state.is_open:
            left_s = (deadline_ns - self._clock.monotonic_ns()) / 1e9
            if left_s <= 0 or not await self._inventory.wait_changed(left_s):
                _log.warning("strategy.replace_abandoned", client_order_id=old,
                             reason="cancel_not_confirmed", timeout_s=REPLACE_WAIT_S)
                return
        if order.state is OrderState.FILLED:
            _log.info("strategy.replace_skipped", client_order_id=old,
                      reason="filled_before_cancel")
            return
        await self._router.route_all([action.new], closed_mono_ns=closed_mono_ns, owned=True)

    def _working(self, client_order_id: str) -> Order | None:
        for order in self._inventory.working_orders():
            if order.client_order_id == client_order_id:
                return order
        return None

    def _own_working(self, symbol: str) -> list[Order]:
        owned = self._router.owned
        return [o for o in self._inventory.working_orders(symbol)
                if o.client_order_id in owned and o.state is not OrderState.PENDING_CANCEL]
