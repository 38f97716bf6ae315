"""The notifier: log events in, messages out to every configured sink, never in trading's way.

`observe` is a log tap (`ops.log.add_tap`): for an event in the catalogue
(`config_notify.EVENTS`) that is switched on, it makes a `Message` and puts it in each
accepting sink's outbox. It is called inside the log call of whatever logged — the order path
included — so it only copies a few fields and appends to a deque: no await, no I/O, and it
never raises. Everything slow (HTTP, retries, rate waits, the chart) runs in `run`, beside
trading. Two messages are the notifier's own: `market_data.stale` once data has been stale
for `notify.stale_data_s` (from the health task's `market_data.stale`/`fresh` lines), and
`summary.daily` at `daily_summary_utc` (`summary.DailySummary`).

`running()` is how the daemon runs it: for the whole lifecycle, around trading and the
flatten, so a halt, the flatten's outcome and the stop itself are all sent; on the way out it
gives the outboxes `shutdown_flush_s` to drain, after the flatten, so it cannot delay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from daemon.book.inventory import InventoryManager
from daemon.clock import Clock
from daemon.config import Config
from daemon.config_notify import EVENTS, Level
from daemon.notify.chat import ChatControl
from daemon.notify.delivery import SinkWorker
from daemon.notify.message import Message, from_record
from daemon.notify.secrets import NotifySecrets
from daemon.notify.sinks import Sink, TelegramBot, TelegramSink, WebhookSink
from daemon.notify.summary import DailySummary
from daemon.ops import log
from daemon.ops.metrics import Metrics
from daemon.risk.supervisor import RiskSupervisor

_log = log.get("notify")
WATCH_S = 1.0  # how often staleness and the summary's time are checked
RESTART_S = 5.0  # a notifier part that failed starts again after this
_OWN = frozenset({"market_data.stale", "summary.daily"})  # made here, not copied from a log line
_STALE_EVENTS = frozenset({"market_data.stale", "market_data.fresh"})


class Notifier:
    def __init__(self, config: Config, sinks: list[Sink], clock: Clock, metrics: Metrics,
                 inventory: InventoryManager, status: Callable[[], Mapping[str, Any]],
                 chat: ChatControl | None = None) -> None:
        self.config = config.notify
        self._clock = clock
        self._metrics = metrics
        self.workers = [SinkWorker(sink, self.config, metrics) for sink in sinks]
        self.chat = chat
        self._levels: dict[str, Level] = {}
        for name in EVENTS:
            level = self.config.level_of(name)
            if level is not None:
                self._levels[name] = level
        self._tapped = (frozenset(self._levels) - _OWN) | _STALE_EVENTS
        self._stale_since: dict[str, int] = {}  # symbol -> when its data went stale (ns)
        self._stale_told: set[str] = set()
        self.summary = DailySummary(self.config.summary_minute, inventory, status,
                                    clock.now_ns())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()

    # --- the tap: inside the logging call, so quick and never raising -------------------------

    def observe(self, record: Mapping[str, Any]) -> None:
        name = record.get("event")
        if name not in self._tapped:
            return
        try:
            if threading.get_ident() != self._thread and self._loop is not None:
                self._loop.call_soon_threadsafe(self._accept, dict(record))
            else:
                self._accept(record)
        except Exception:
            # Nothing may raise into a log call; a record the notifier cannot read is lost.
            self._metrics.notify_dropped.labels("all", "unreadable").inc()

    def _accept(self, record: Mapping[str, Any]) -> None:
        name = str(record["event"])
        now_ns = self._clock.now_ns()
        if name in _STALE_EVENTS:
            self._track_stale(name, record, now_ns)
            return
        self.publish(from_record(record, self._levels[name], now_ns))

    def publish(self, message: Message) -> None:
        for worker in self.workers:
            if worker.accepts(message):
                worker.outbox.put(message)

    def _track_stale(self, name: str, record: Mapping[str, Any], now_ns: int) -> None:
        symbol = str(record.get("symbol"))
        if name == "market_data.fresh":
            self._stale_since.pop(symbol, None)
            self._stale_told.discard(symbol)
            return
        age_s = record.get("age_s")
        age_ns = int(float(age_s) * 1e9) if isinstance(age_s, int | float) else 0
        self._stale_since.setdefault(symbol, now_ns - age_ns)
        self.check_stale(now_ns)

    def check_stale(self, now_ns: int) -> None:
        level = self._levels.get("market_data.stale")
        threshold_ns = int(self.config.stale_data_s * 1e9)
        for symbol, since in self._stale_since.items():
            if level is None or symbol in self._stale_told or now_ns - since < threshold_ns:
                continue
            self._stale_told.add(symbol)
            self.publish(Message("market_data.stale", level, now_ns, {
                "symbol": symbol, "age_s": round((now_ns - since) / 1e9, 3),
                "threshold_s": self.config.stale_data_s}))

    # --- the task ----------------------------------------------------------------------------

    async def run(self, session: aiohttp.ClientSession) -> None:
        log.bind_task("notify")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        _log.info("notify.started", sinks=[w.sink.name for w in self.workers],
                  commands=self.chat is not None, events=sorted(self._levels))
        async with asyncio.TaskGroup() as tg:
            for worker in self.workers:
                tg.create_task(_restarting(worker.sink.name, functools.partial(worker.run,
                                                                               session)),
                               name=f"notify.{worker.sink.name}")
            if self.chat is not None:
                chat = self.chat
                tg.create_task(_restarting("chat", lambda: chat.run(session)), name="chat")
            tg.create_task(_restarting("watch", self._watch), name="notify.watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            now_ns = self._clock.now_ns()
            self.check_stale(now_ns)
            self.summary.sample(now_ns)
            if self.summary.due(now_ns) and "summary.daily" in self._levels:
                await self.send_summary(now_ns)

    async def send_summary(self, now_ns: int) -> None:
        fields, png = await self.summary.make(now_ns)
        _log.info("summary.daily", **fields)
        self.publish(Message("summary.daily", self._levels["summary.daily"], now_ns,
                             fields, png))

    async def flush(self, deadline_s: float) -> None:
        """Until every outbox is empty and idle, or `deadline_s`: the last messages out."""
        for worker in self.workers:
            worker.close()
        try:
            async with asyncio.timeout(deadline_s):
                for worker in self.workers:
                    await worker.outbox.drained()
        except TimeoutError:
            pending = {w.sink.name: [m.event for m in w.outbox.pending()]
                       for w in self.workers if w.outbox.pending()}
            _log.warning("notify.flush_incomplete", pending=pending, deadline_s=deadline_s)


async def _restarting(name: str, part: Callable[[], Awaitable[None]]) -> None:
    """Run `part`; a bug in it is logged and it starts again: the notifier never ends the
    daemon's task group, whatever fails in it."""
    while True:
        try:
            await part()
            return
        except Exception as err:
            _log.error("notify.part_failed", part=name, error=repr(err), restart_s=RESTART_S)
            await asyncio.sleep(RESTART_S)


def build(config: Config, secrets: NotifySecrets, supervisor: RiskSupervisor,
          inventory: InventoryManager, clock: Clock, metrics: Metrics) -> Notifier | None:
    """The configured sinks and chat control, or None if `[notify]` configures no sink."""
    cfg = config.notify
    if not cfg.enabled:
        return None
    sinks: list[Sink] = []
    for n, hook in enumerate(cfg.webhook):
        log.register_secret(hook.url)  # a Slack or Discord webhook URL is a credential
        sinks.append(WebhookSink(f"webhook{n}", hook,
                                 secrets.webhook_secrets[n] if secrets.webhook_secrets else None))
    chat = None
    if cfg.telegram is not None:
        tg = TelegramSink(cfg.telegram, TelegramBot(cfg.telegram.api_url,
                                                    secrets.telegram_token),
                          secrets.telegram_chat_id)
        sinks.append(tg)
        if cfg.telegram.commands and cfg.telegram.allowed_user_ids:  # else nobody may command
            chat = ChatControl(tg, cfg.telegram, cfg, supervisor, inventory, metrics)
    return Notifier(config, sinks, clock, metrics, inventory, supervisor.status, chat)


@contextlib.asynccontextmanager
async def running(notifier: Notifier | None) -> AsyncIterator[None]:
    """Run the notifier (if any) around the block; on the way out, flush within
    `shutdown_flush_s` and stop it."""
    if notifier is None:
        yield
        return
    log.add_tap(notifier.observe)
    try:
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as tg:
            task = tg.create_task(notifier.run(session), name="notify")
            try:
                yield
            finally:
                await notifier.flush(notifier.config.shutdown_flush_s)
                task.cancel()
    finally:
        log.remove_tap(notifier.observe)
