"""The `[notify]` configuration and the catalogue of events worth a message.

Kept out of `config.py` (which only adds the section) so the notifier's settings and the list
of event names they refer to live in one place. Every event name is the structlog event the
daemon already logs: a message, a log line and a metric about one thing share its name.
Secrets are never written here: the bot token, chat id and webhook HMAC secrets come from
credentials (`daemon.notify.secrets`).
"""

from __future__ import annotations

import enum
import re

import msgspec

from daemon.config_errors import positive


class Level(enum.IntEnum):
    """How much a message matters; a sink's `min_level` keeps the ones at or above it."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30


LEVELS = {"info": Level.INFO, "warning": Level.WARNING, "critical": Level.CRITICAL}

# Event name -> default level. The log event of the same name is what produces the message
# (`daemon.notify.tap`), except `summary.daily` and `market_data.stale`, which the notifier
# itself measures and logs.
EVENTS: dict[str, Level] = {
    "order.filled": Level.INFO,
    "order.rejected": Level.WARNING,
    "trading.halted": Level.CRITICAL,
    "trading.resumed": Level.WARNING,
    "flatten.started": Level.WARNING,
    "flatten.done": Level.INFO,
    "flatten.incomplete": Level.CRITICAL,
    "daemon.started": Level.INFO,
    "shutdown.complete": Level.WARNING,
    "task.crashed": Level.CRITICAL,
    "market_data.stale": Level.WARNING,
    "summary.daily": Level.INFO,
}
# Never dropped from a full queue, and retried until the shutdown flush's deadline: a halt, a
# crash, a flatten that left positions open, and the stop itself.
ESSENTIAL = frozenset({"trading.halted", "task.crashed", "flatten.incomplete",
                       "shutdown.complete"})
FORMATS = ("json", "slack", "discord")
TELEGRAM_API = "https://api.telegram.org"


def _level(name: str, value: str) -> Level:
    if value not in LEVELS:
        raise ValueError(f"{name}: must be one of {', '.join(LEVELS)}")
    return LEVELS[value]


def _check_events(events: list[str]) -> None:
    for n, name in enumerate(events):
        if name not in EVENTS:
            raise ValueError(f"events[{n}]: unknown event {name!r} (one of "
                             f"{', '.join(EVENTS)})")


def _check_url(name: str, url: str) -> None:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ValueError(f"{name}: must be an http(s) URL")


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class EventSetting(_Base, frozen=True, forbid_unknown_fields=True):
    """`[notify.events."order.filled"]`: switch one event off, or change its level."""

    enabled: bool = True
    level: str = ""  # empty: the catalogue's default (checked by NotifyConfig: it knows the key)


class WebhookConfig(_Base, frozen=True, forbid_unknown_fields=True):
    """One `[[notify.webhook]]`: a JSON POST per message, optionally HMAC-signed."""

    url: str
    # A credential name: `$CREDENTIALS_DIRECTORY/<name>`, else the environment variable
    # `<NAME>` (upper-cased): the HMAC-SHA256 key of the X-Tradingd-Signature header.
    secret_credential: str = ""
    events: list[str] = []  # empty: every enabled event
    min_level: str = "info"
    format: str = "json"  # json | slack | discord (the payload template)
    max_per_minute: int = 20

    def __post_init__(self) -> None:
        _check_url("url", self.url)
        if self.secret_credential and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                       self.secret_credential):
            raise ValueError("secret_credential: must be a credential name (letters, digits, _)")
        _check_events(self.events)
        _level("min_level", self.min_level)
        if self.format not in FORMATS:
            raise ValueError(f"format: must be one of {', '.join(FORMATS)}")
        positive("max_per_minute", self.max_per_minute)


class TelegramConfig(_Base, frozen=True, forbid_unknown_fields=True):
    """`[notify.telegram]`: messages to one chat, and commands from it. The bot token comes
    from `$CREDENTIALS_DIRECTORY/telegram_token` or `TRADINGD_TELEGRAM_TOKEN`; the chat id from
    here or, to keep it out of the config file, `telegram_chat_id` /
    `TRADINGD_TELEGRAM_CHAT_ID`."""

    api_url: str = TELEGRAM_API
    chat_id: str = ""
    allowed_user_ids: list[int] = []  # who may command; empty: no commands are obeyed
    allow_resume: bool = False  # a phone is easier to lose than an SSH key
    commands: bool = True  # poll getUpdates for /status, /positions, /halt, /flatten
    events: list[str] = []
    min_level: str = "info"
    max_per_minute: int = 20
    poll_timeout_s: float = 30.0  # getUpdates long-poll

    def __post_init__(self) -> None:
        _check_url("api_url", self.api_url)
        if self.chat_id and not re.fullmatch(r"-?\d+|@\w+", self.chat_id):
            raise ValueError("chat_id: must be a numeric chat id or @channelname")
        _check_events(self.events)
        _level("min_level", self.min_level)
        positive("max_per_minute", self.max_per_minute)
        positive("poll_timeout_s", self.poll_timeout_s)


class NotifyConfig(_Base, frozen=True, forbid_unknown_fields=True):
    webhook: list[WebhookConfig] = []
    telegram: TelegramConfig | None = None
    events: dict[str, EventSetting] = {}
    queue_size: int = 256  # messages waiting per sink; informational ones drop beyond it
    send_timeout_s: float = 10.0  # one HTTP request
    max_attempts: int = 4  # per message: bounded, jittered retries
    retry_max_s: float = 60.0  # the longest wait between attempts (a 429's retry_after too)
    group_fills_s: float = 5.0  # fills within this window make one message
    stale_data_s: float = 60.0  # market data this old (seconds) is worth a message
    daily_summary_utc: str = "00:00"  # HH:MM UTC; empty: no daily summary
    shutdown_flush_s: float = 3.0  # after the flatten: how long the last messages may take

    def __post_init__(self) -> None:
        for name, setting in self.events.items():
            if name not in EVENTS:
                raise ValueError(f"events.{name}: unknown event (one of {', '.join(EVENTS)})")
            if setting.level:
                _level(f"events.{name}.level", setting.level)
        for name in ("queue_size", "send_timeout_s", "max_attempts", "retry_max_s",
                     "stale_data_s", "shutdown_flush_s"):
            positive(name, getattr(self, name))
        if self.group_fills_s < 0:
            raise ValueError("group_fills_s: must be >= 0")
        if self.daily_summary_utc and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d",
                                                       self.daily_summary_utc):
            raise ValueError("daily_summary_utc: must be HH:MM (UTC), or empty")

    @property
    def enabled(self) -> bool:
        return bool(self.webhook) or self.telegram is not None

    def level_of(self, event: str) -> Level | None:
        """The event's level, or None if switched off."""
        setting = self.events.get(event)
        if setting is None:
            return EVENTS[event]
        if not setting.enabled:
            return None
        return LEVELS[setting.level] if setting.level else EVENTS[event]

    @property
    def summary_minute(self) -> int | None:
        """Minutes after UTC midnight of the daily summary, or None."""
        if not self.daily_summary_utc:
            return None
        hh, mm = self.daily_summary_utc.split(":")
        return int(hh) * 60 + int(mm)
