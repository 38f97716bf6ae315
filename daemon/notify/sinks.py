"""Where messages go: a JSON webhook and the Telegram Bot API, over aiohttp's client.

A send either returns (delivered) or raises `SendError`, which says whether trying again can
help (a timeout, a 5xx, a 429 with its `retry_after`) or not (any other 4xx: a wrong URL or
chat, a revoked token). The error's text is built here from the status and the service's own
description, redacted: never the request URL, which for Telegram carries the bot token.

Webhook payloads are JSON whose `event` is the log event's name. `format = "json"` sends the
whole message (`Message.payload`); "slack" and "discord" send the text under the key those
services read (`text`, `content`) with `event` and `level` beside it. With a secret, the body
is signed: `X-Tradingd-Signature: sha256=<hex HMAC-SHA256 of the body>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any, Protocol

import aiohttp
import msgspec

from daemon.config_notify import Level, TelegramConfig, WebhookConfig
from daemon.notify.message import Message, render
from daemon.ops import log

SIGNATURE_HEADER = "X-Tradingd-Signature"
TELEGRAM_TEXT_MAX = 4096
TELEGRAM_CAPTION_MAX = 1024
DISCORD_CONTENT_MAX = 2000


class SendError(Exception):
    def __init__(self, detail: str, retryable: bool, retry_after_s: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(log.redact(detail))
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status


class Sink(Protocol):
    name: str  # in log lines: `webhook0`, `webhook1`, ..., `telegram`
    kind: str  # the metric label: `webhook` or `telegram`
    events: frozenset[str]  # empty: all
    min_level: Level
    max_per_minute: int

    async def send(self, session: aiohttp.ClientSession, message: Message,
                   timeout_s: float) -> None: ...


def _status_error(status: int, detail: str, retry_after_s: float | None) -> SendError:
    retryable = status == 429 or status == 408 or status >= 500
    return SendError(f"HTTP {status}: {detail[:200]}", retryable, retry_after_s, status)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the jittered backoff decides instead


async def _request(session: aiohttp.ClientSession, timeout_s: float, url: str,
                   **kwargs: Any) -> tuple[int, bytes, str | None]:
    """POST and read the whole answer within `timeout_s`; transport failures as `SendError`."""
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, **kwargs) as resp:
                return resp.status, await resp.read(), resp.headers.get("Retry-After")
    except TimeoutError:
        raise SendError(f"no answer within {timeout_s:g}s", True) from None
    except aiohttp.ClientError as err:
        # The exception's text can hold the URL (and so a bot token): only its class.
        raise SendError(f"{type(err).__name__}", True) from None


class WebhookSink:
    kind = "webhook"

    def __init__(self, name: str, config: WebhookConfig, secret: bytes | None) -> None:
        self.name = name
        self.events = frozenset(config.events)
        self.min_level = Level[config.min_level.upper()]
        self.max_per_minute = config.max_per_minute
        self._url = config.url
        self._format = config.format
        self._secret = secret

    def body(self, message: Message) -> bytes:
        doc: dict[str, Any]
        if self._format == "slack":
            doc = {"text": render(message), "event": message.event,
                   "level": message.level.name.lower()}
        elif self._format == "discord":
            doc = {"content": render(message)[:DISCORD_CONTENT_MAX], "event": message.event,
                   "level": message.level.name.lower()}
        else:
            doc = message.payload()
        # A secret that found its way into a field never leaves the process.
        return log.redact(msgspec.json.encode(doc).decode()).encode()

    async def send(self, session: aiohttp.ClientSession, message: Message,
                   timeout_s: float) -> None:
        body = self.body(message)
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        status, answer, retry_after = await _request(session, timeout_s, self._url, data=body,
                                                     headers=headers)
        if not 200 <= status < 300:
            raise _status_error(status, answer.decode(errors="replace"),
                                _retry_after(retry_after))


class TelegramBot:
    """The Bot API methods the daemon calls: `sendMessage`, `sendPhoto`, `getUpdates`."""

    def __init__(self, api_url: str, token: str) -> None:
        self._base = f"{api_url.rstrip('/')}/bot{token}"

    async def call(self, session: aiohttp.ClientSession, method: str, timeout_s: float,
                   **kwargs: Any) -> Any:
        status, answer, retry_after = await _request(session, timeout_s,
                                                     f"{self._base}/{method}", **kwargs)
        try:
            doc = msgspec.json.decode(answer)
        except msgspec.DecodeError:
            doc = None
        if isinstance(doc, dict) and doc.get("ok") is True and status == 200:
            return doc.get("result")
        if not isinstance(doc, dict):
            raise _status_error(status if status != 200 else 502, "not a Bot API answer",
                                _retry_after(retry_after))
        params = doc.get("parameters")
        after = params.get("retry_after") if isinstance(params, dict) else None
        code = doc.get("error_code")
        raise _status_error(code if isinstance(code, int) else status,
                            str(doc.get("description", "")),
                            float(after) if isinstance(after, int | float) else
                            _retry_after(retry_after))


class TelegramSink:
    name = kind = "telegram"

    def __init__(self, config: TelegramConfig, bot: TelegramBot, chat_id: str) -> None:
        self.events = frozenset(config.events)
        self.min_level = Level[config.min_level.upper()]
        self.max_per_minute = config.max_per_minute
        self.bot = bot
        self.chat_id = chat_id

    async def send(self, session: aiohttp.ClientSession, message: Message,
                   timeout_s: float) -> None:
        await self.say(session, log.redact(render(message)), timeout_s, message.png)

    async def say(self, session: aiohttp.ClientSession, text: str, timeout_s: float,
                  png: bytes | None = None) -> None:
        if png is None:
            await self.bot.call(session, "sendMessage", timeout_s, json={
                "chat_id": self.chat_id, "text": text[:TELEGRAM_TEXT_MAX],
                "disable_web_page_preview": True})
            return
        form = aiohttp.FormData()
        form.add_field("chat_id", self.chat_id)
        form.add_field("caption", text[:TELEGRAM_CAPTION_MAX])
        form.add_field("photo", png, filename="equity.png", content_type="image/png")
        await self.bot.call(session, "sendPhoto", timeout_s, data=form)
