"""`FakeBinanceThread`: a `FakeBinance` on its own event loop in a background thread.

For synchronous tests, and for tests that start the daemon as a subprocess and need the fake
to keep serving while the test thread blocks. Everything touching the fake's state must run
on the fake's loop; `call()` does that and hands back the result.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .server import FakeBinance

T = TypeVar("T")


class FakeBinanceThread:
    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fake-binance", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.fx: FakeBinance | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.fx = self._loop.run_until_complete(FakeBinance(**self._kwargs).start())
        except BaseException as exc:  # surfaced to the starting thread by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.fx.stop())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def start(self, timeout: float = 10.0) -> FakeBinanceThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("fake exchange did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        elif not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> FakeBinanceThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[FakeBinance], T], timeout: float = 10.0) -> T:
        """Run `fn(fx)` on the fake's loop (awaiting it if it returns a coroutine)."""
        assert self.fx is not None, "not started"
        fx = self.fx

        async def runner() -> Any:
            result = fn(fx)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout)

    @property
    def _fx(self) -> FakeBinance:
        assert self.fx is not None, "not started"
        return self.fx

    @property
    def http_base(self) -> str:
        return self._fx.http_base

    @property
    def ws_base(self) -> str:
        return self._fx.ws_base

    @property
    def api_key(self) -> str:
        return self._fx.api_key

    @property
    def api_secret(self) -> str:
        return self._fx.api_secret

    def ccxt_config(self, futures: bool = False) -> dict[str, Any]:
        return self._fx.ccxt_config(futures)
