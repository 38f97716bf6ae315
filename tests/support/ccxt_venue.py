"""The ccxt broker on a real venue client against the fake Binance, for the component tests
`tests/component/test_ccxt_broker_*`.

The broker is built the way the daemon builds it (`make_exchange`, `load_markets`, instruments
from the venue's markets) on an unmodified ccxt.pro client talking HTTP and websockets to the
in-process fake exchange; orders are approved by a real risk gate over a real inventory. Only
the exchange is fake, at its wire protocol, and the clock is the live one. Events the broker
emits are collected in order; its log lines are read from stdout (pytest's `capsys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from daemon.book.inventory import InventoryManager
from daemon.clock import LiveClock
from daemon.config import ExchangeConfig, RiskConfig
from daemon.events import BrokerEvent, OrderFilled
from daemon.execution.booking import apply
from daemon.model import OrderIntent, OrderType, Side
from daemon.ops import log
from daemon.ops.credentials import Credentials
from daemon.ops.metrics import Metrics
from daemon.risk.gate import ApprovedOrder, RiskGate
from daemon.venues.ccxt.broker import CcxtBroker
from daemon.venues.ccxt.client import instruments_from_markets, make_exchange
from tests.fake_exchange import FakeBinance
from tests.support.wait import eventually_async

SYM = "BTC/USDT"


class _Stdout:
    """The log stream: whatever `sys.stdout` is now (capsys swaps it per test), so a logger
    structlog cached in an earlier test still writes where this test reads."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def capture_logs() -> None:
    log.configure("info", stream=_Stdout(), console=False)  # type: ignore[arg-type]


def log_records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    sys.stdout.write(out)  # keep it for the failure report
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@dataclass
class Venue:
    fx: FakeBinance
    broker: CcxtBroker
    metrics: Metrics
    gate: RiskGate
    inventory: InventoryManager
    events: list[BrokerEvent] = field(default_factory=list)
    _seq: int = 0

    def approve(self, side: Side = Side.BUY, qty: str = "0.01",
                limit: str | None = None) -> ApprovedOrder:
        """An order the real gate approved (market, or limit at `limit`)."""
        self.inventory.mark(SYM, float(self.fx.markets["BTCUSDT"].book.mid() or 0),
                            time.time_ns())
        self._seq += 1
        intent = OrderIntent(SYM, side, Decimal(qty),
                             OrderType.LIMIT if limit else OrderType.MARKET,
                             Decimal(limit) if limit else None)
        approved = self.gate.check(intent, f"td-t-{self._seq}", time.time_ns())
        assert isinstance(approved, ApprovedOrder), approved
        return approved

    def of(self, coid: str) -> list[str]:
        """The kinds of the events about one order, in the order they were emitted."""
        return [type(e).__name__ for e in self.events if _coid(e) == coid]

    def fills(self, coid: str) -> list[OrderFilled]:
        return [e for e in self.events if isinstance(e, OrderFilled)
                and e.fill.client_order_id == coid]

    def errors(self, label: str) -> float:
        return self.metrics.exchange_errors.labels(label)._value.get()  # type: ignore[no-any-return]

    async def wait(self, condition: Any, what: str, timeout_s: float = 10.0) -> Any:
        return await eventually_async(condition, timeout_s, what=what)

    async def settled(self) -> None:
        """Every event the broker has emitted so far is in `events`."""
        await self.wait(self.broker.events.empty, "the broker's events collected")


def _coid(event: BrokerEvent) -> str:
    return event.fill.client_order_id if isinstance(event, OrderFilled) else \
        event.client_order_id


@contextlib.asynccontextmanager
async def venue(run: bool = False, fake: dict[str, Any] | None = None, book: bool = False,
                **exchange: Any) -> AsyncIterator[Venue]:
    """A fake exchange and a broker on it; `run`: the broker's streams and polls run too;
    `book`: each event is also booked into the inventory, as the fills task books it.
    `exchange`: `[exchange]` settings (order_lookup_s, fill_poll_s, timeout_ms, ...)."""
    async with FakeBinance(seed=3, **(fake or {})) as fx:
        urls, options = fx.ccxt_config()["urls"]["api"], fx.ccxt_config()["options"]
        cfg = ExchangeConfig(api_urls=urls, options=options,
                             **{"timeout_ms": 2000, "fill_poll_s": 0.3,
                                "order_lookup_s": 1.0,
                                "reconnect_max_s": 0.5, **exchange})
        ex = make_exchange(cfg, Credentials(fx.api_key, fx.api_secret, "", "test"))
        ex.enableRateLimit = False  # ccxt's client-side throttle only slows the tests
        metrics = Metrics([SYM])
        try:
            await ex.load_markets()
            instruments = instruments_from_markets(ex.markets, [SYM], ex.precisionMode)
            broker = CcxtBroker(ex, instruments, cfg, metrics, LiveClock(), "td")
            inventory = InventoryManager(instruments.values(), Decimal(100_000))
            gate = RiskGate(RiskConfig(Decimal(100_000), Decimal(100_000), 100,
                                       max_orders_per_minute=1000), inventory.view,
                            time.time_ns())
            v = Venue(fx, broker, metrics, gate, inventory)
            async with asyncio.TaskGroup() as tg:
                pump = tg.create_task(_pump(broker, v.events,
                                            (inventory, metrics) if book else None))
                runner = tg.create_task(broker.run()) if run else None
                if run:
                    await v.wait(lambda: fx.user_subscribers() == 1, "the user-data stream")
                try:
                    yield v
                finally:
                    pump.cancel()
                    if runner is not None:
                        runner.cancel()
        finally:
            await ex.close()


async def _pump(broker: CcxtBroker, into: list[BrokerEvent],
                books: tuple[InventoryManager, Metrics] | None) -> None:
    while True:
        event = await broker.events.get()
        if books is not None:
            apply(event, *books)
        into.append(event)
