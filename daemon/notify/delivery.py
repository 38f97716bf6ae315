"""One sink's delivery loop: take from its outbox, group fills, keep to its rate, retry.

Each sink has its own loop, so a sink that hangs delays only itself. A send gets
`send_timeout_s`, and up to `max_attempts` tries with jittered exponential waits (tenacity;
a 429's `retry_after` is honoured, up to `retry_max_s`). What then still fails is counted and
logged and, if informational, given up; an essential message (a halt, a crash) goes back to
the front of the outbox and is tried again after `retry_max_s`, for as long as the daemon
runs and through the shutdown flush. Nothing here is awaited by trading.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from daemon.config_notify import NotifyConfig
from daemon.notify.message import Message, group_fills
from daemon.notify.outbox import Outbox
from daemon.notify.sinks import SendError, Sink
from daemon.ops import log
from daemon.ops.metrics import Metrics

_log = log.get("notify")
RATE_WINDOW_S = 60.0


class _Backoff(wait_base):
    """Jittered exponential, or the service's own `retry_after` when it gave one."""

    def __init__(self, max_s: float) -> None:
        self._max_s = max_s
        self._jitter = wait_random_exponential(multiplier=0.5, max=max_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        err = outcome.exception() if outcome is not None else None
        if isinstance(err, SendError) and err.retry_after_s is not None:
            return min(max(err.retry_after_s, 0.0), self._max_s)
        return float(self._jitter(retry_state))


def _retryable(err: BaseException) -> bool:
    return isinstance(err, SendError) and err.retryable


async def with_retries(send: Callable[[], Awaitable[None]], attempts: int,
                       max_wait_s: float) -> None:
    """`send()` up to `attempts` times while it fails with a retryable `SendError`."""
    async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts),
                                       wait=_Backoff(max_wait_s),
                                       retry=retry_if_exception(_retryable), reraise=True):
        with attempt:
            await send()


class RateLimit:
    """At most `per_minute` sends in any 60 s (`window_s`)."""

    def __init__(self, per_minute: int, window_s: float = RATE_WINDOW_S) -> None:
        self._per_minute = per_minute
        self._window_s = window_s
        self._sent: deque[float] = deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self._sent) >= self._per_minute:
            wait_s = self._sent[0] + self._window_s - loop.time()
            if wait_s <= 0:
                self._sent.popleft()
                continue
            await asyncio.sleep(wait_s)
        self._sent.append(loop.time())


class SinkWorker:
    def __init__(self, sink: Sink, config: NotifyConfig, metrics: Metrics) -> None:
        self.sink = sink
        self._config = config
        self._metrics = metrics
        self.outbox = Outbox(config.queue_size, self._dropped)
        self._limit = RateLimit(sink.max_per_minute)
        self.closing = False  # the shutdown flush: no grouping window, no rate wait

    def accepts(self, message: Message) -> bool:
        return message.level >= self.sink.min_level and (
            not self.sink.events or message.event in self.sink.events)

    def _dropped(self, event: str) -> None:
        self._metrics.notify_dropped.labels(self.sink.kind, "queue_full").inc()

    def close(self) -> None:
        self.closing = True
        self.outbox.changed().set()  # end a grouping window now

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            message = await self.outbox.get()
            try:
                if message.event == "order.filled":
                    message = await self._group(message)
                await self._deliver(session, message)
            except Exception as err:  # a bug here must not end the notifier, nor trading
                _log.error("notify.failed", sink=self.sink.name, about=message.event,
                           error=repr(err))
            finally:
                self.outbox.done()

    async def _group(self, first: Message) -> Message:
        window_s = self._config.group_fills_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window_s
        changed = self.outbox.changed()
        while not self.closing and not self.outbox.has_essential():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                break
        return group_fills([first, *self.outbox.take("order.filled")])

    async def _deliver(self, session: aiohttp.ClientSession, message: Message) -> None:
        if not self.closing:
            await self._limit.acquire()
        cfg = self._config
        try:
            await with_retries(lambda: self.sink.send(session, message, cfg.send_timeout_s),
                               cfg.max_attempts, cfg.retry_max_s)
        except SendError as err:
            self._failed(message, err)
            if message.essential and err.retryable:
                # Never given up: back at the front, tried again after the longest wait.
                await asyncio.sleep(cfg.retry_max_s)
                self.outbox.put(message, front=True)
            return
        self._metrics.notify_sent.labels(self.sink.kind).inc()

    def _failed(self, message: Message, err: SendError) -> None:
        will_retry = message.essential and err.retryable
        self._metrics.notify_failed.labels(self.sink.kind).inc()
        fields: dict[str, Any] = {"sink": self.sink.name, "about": message.event,
                                  "error": str(err), "status": err.status}
        if will_retry:
            _log.error("notify.send_failed", **fields, action="retrying: never dropped")
            return
        self._metrics.notify_dropped.labels(self.sink.kind, "send_failed").inc()
        # An essential message refused for good (a revoked token, a wrong chat) is an error.
        (_log.error if message.essential else _log.warning)("notify.send_failed", **fields,
                                                            action="dropped")
