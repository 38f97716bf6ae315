"""Chat control over Telegram: `/status`, `/positions`, `/halt`, `/flatten`, and `/resume` when
`allow_resume` is set.

A long-poll of `getUpdates` in its own task. A command is obeyed only if it comes from the
configured chat and from a user in `allowed_user_ids`; anything else is ignored, counted
(`tradingd_notify_commands_ignored_total`) and logged at most once per window, without the
ids. Commands go through the supervisor's own transitions, as SIGUSR1 and the control API do:
one halt latch, one flatten path. Each obeyed command is logged (`notify.command`) with who
sent it: the username and the position in `allowed_user_ids` (ids may equal the chat id,
which is a secret). A malformed update is skipped; it never ends the poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from daemon.book.inventory import InventoryManager
from daemon.config_notify import NotifyConfig, TelegramConfig
from daemon.notify.sinks import SendError, TelegramSink
from daemon.ops import log
from daemon.ops.log_limit import LimitedLog
from daemon.ops.metrics import Metrics
from daemon.risk.breakers import KILL_SWITCH
from daemon.risk.supervisor import RiskSupervisor

_log = log.get("notify")
IGNORED_LOG_S = 60.0
COMMANDS = ("/status", "/positions", "/halt", "/flatten", "/resume")


class ChatControl:
    def __init__(self, sink: TelegramSink, config: TelegramConfig, notify: NotifyConfig,
                 supervisor: RiskSupervisor, inventory: InventoryManager,
                 metrics: Metrics) -> None:
        self._sink = sink
        self._config = config
        self._notify = notify
        self._supervisor = supervisor
        self._inventory = inventory
        self._metrics = metrics
        self._ignored = LimitedLog(_log, "notify.command_ignored", burst=1,
                                   window_s=IGNORED_LOG_S)

    async def run(self, session: aiohttp.ClientSession) -> None:
        offset: int | None = None
        while True:
            updates = await self._poll(session, offset)
            before = offset
            for update in updates:
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    offset = max(offset or 0, update["update_id"] + 1)
                reply = self.handle(update)
                if reply is not None:
                    await self._reply(session, reply)
            if updates and offset == before:
                # Nothing to confirm them by: the same updates would come back at once.
                _log.warning("notify.poll_unreadable", updates=len(updates))
                await asyncio.sleep(self._notify.retry_max_s)

    async def _poll(self, session: aiohttp.ClientSession, offset: int | None) -> list[Any]:
        """One `getUpdates`; failures are retried with jittered backoff for as long as it
        takes (a poll has nothing to give up on), each logged at most once per window."""
        timeout = self._config.poll_timeout_s
        params: dict[str, Any] = {"timeout": int(timeout), "allowed_updates": ["message"]}
        if offset is not None:
            params["offset"] = offset
        async for attempt in AsyncRetrying(
                wait=wait_random_exponential(multiplier=0.5, max=self._notify.retry_max_s),
                retry=retry_if_exception_type(SendError), reraise=True,
                before_sleep=self._poll_failed):
            with attempt:
                result = await self._sink.bot.call(session, "getUpdates",
                                                   timeout + self._notify.send_timeout_s,
                                                   json=params)
        return result if isinstance(result, list) else []

    def _poll_failed(self, state: Any) -> None:
        err = state.outcome.exception() if state.outcome is not None else None
        _log.warning("notify.poll_failed", attempt=state.attempt_number, error=str(err))

    async def _reply(self, session: aiohttp.ClientSession, text: str) -> None:
        try:
            await self._sink.say(session, log.redact(text), self._notify.send_timeout_s)
        except SendError as err:
            _log.warning("notify.reply_failed", error=str(err))

    def handle(self, update: Any) -> str | None:
        """The reply to one update, or None; obeys the command if it is allowed."""
        msg = update.get("message") if isinstance(update, dict) else None
        if not isinstance(msg, dict) or not isinstance(msg.get("text"), str):
            return None  # not a text message: nothing to do
        chat = msg.get("chat")
        sender = msg.get("from")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        user_id = sender.get("id") if isinstance(sender, dict) else None
        if str(chat_id) != self._sink.chat_id or user_id not in self._config.allowed_user_ids:
            self._metrics.notify_commands_ignored.inc()
            self._ignored.hit(reason="chat or user not allowed")
            return None
        words = msg["text"].strip().split()
        command = words[0].split("@", 1)[0].lower() if words else ""
        who = {"user": _username(sender if isinstance(sender, dict) else {}),
               "allowed_user": self._config.allowed_user_ids.index(user_id)}
        return self._obey(command, who)

    def _obey(self, command: str, who: dict[str, Any]) -> str:
        sup = self._supervisor
        outcome: str
        if command == "/status":
            reply = _status_text(sup.status())
            outcome = "answered"
        elif command == "/positions":
            reply = _positions_text(self._inventory)
            outcome = "answered"
        elif command == "/halt":
            changed = sup.halt("telegram", KILL_SWITCH, f"telegram /halt by {who['user']}")
            reply = ("halted: cancelling and flattening" if changed
                     else "already halted; flatten requested again")
            outcome = "halted" if changed else "already_halted"
        elif command == "/flatten":
            if sup.stopping:
                reply, outcome = "the daemon is shutting down (and flattening)", "refused"
            else:
                reply = f"flatten requested; state {sup.flatten('telegram').value}"
                outcome = "flatten_requested"
        elif command == "/resume" and not self._config.allow_resume:
            reply = "/resume is disabled (notify.telegram.allow_resume = false)"
            outcome = "refused"
        elif command == "/resume":
            refused = sup.resume("telegram")
            reply = f"not resumed: {refused}" if refused else "resumed: trading is ACTIVE"
            outcome = "refused" if refused else "resumed"
        else:
            allowed = [c for c in COMMANDS if c != "/resume" or self._config.allow_resume]
            return "commands: " + " ".join(allowed)
        _log.warning("notify.command", command=command, outcome=outcome, **who)
        return reply


def _username(sender: Mapping[str, Any]) -> str:
    name = sender.get("username") or sender.get("first_name") or "?"
    return f"@{name}" if sender.get("username") else str(name)


def _status_text(s: Mapping[str, Any]) -> str:
    halt = s["halt"]
    lines = [f"state {s['state']} ({s['phase']})"
             + (f", halted by {halt['reason']}: {halt['detail']}" if halt["latched"] else ""),
             f"equity {s['equity']:.2f}, cash {s['cash']:.2f}",
             f"pnl realized {s['realized_pnl']:.2f}, unrealized {s['unrealized_pnl']:.2f}, "
             f"daily {s['daily_pnl']:.2f}, fees {s['fees']:.2f}",
             f"drawdown {float(s['drawdown_ratio']):.2%}"]
    if s.get("flattening"):
        lines.append("flattening")
    return "\n".join(lines)


def _positions_text(inventory: InventoryManager) -> str:
    positions = [p for p in inventory.positions() if p.qty]
    if not positions:
        return "flat: no positions"
    return "\n".join(f"{p.symbol} {p.qty} @ mark {p.mark}" for p in positions)
