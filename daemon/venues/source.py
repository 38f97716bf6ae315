"""The market data source protocol.

`stream()` yields tick batches until cancelled. A source keeps its state on the object, not in
the generator, so the shutdown phase can call `stream()` again and carry on where trading left
off (the flatten needs prices after the trading tasks are gone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from daemon.model import TickBatch


class MarketDataSource(Protocol):
    @property
    def path(self) -> str:
        """Which path is live (`sim`, `replay`, `websocket`, `rest`): a metric label."""

    async def run(self) -> None:
        """Background I/O feeding `stream()` (websockets, polling) until cancelled; returns at
        once for a source that has none. The market data task runs it."""

    def stream(self) -> AsyncIterator[TickBatch]: ...

    async def close(self) -> None: ...
