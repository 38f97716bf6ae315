"""The notifier's secrets: the Telegram bot token and chat id, and each webhook's HMAC key.

Read like every credential (`ops.credentials.secret`): `$CREDENTIALS_DIRECTORY/<name>` first,
then the environment; registered with the log redactor as they are read, so no log line,
message or exception can carry them. A sink whose secret is missing is a config error (78)
naming the key, before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from daemon.config import Config, ConfigError
from daemon.ops import log
from daemon.ops.credentials import secret

TOKEN_NAME, TOKEN_ENV = "telegram_token", "TRADINGD_TELEGRAM_TOKEN"
CHAT_NAME, CHAT_ENV = "telegram_chat_id", "TRADINGD_TELEGRAM_CHAT_ID"


@dataclass(frozen=True)
class NotifySecrets:
    telegram_token: str = field(default="", repr=False)
    telegram_chat_id: str = field(default="", repr=False)
    webhook_secrets: tuple[bytes | None, ...] = field(default=(), repr=False)


def load(config: Config, env: Mapping[str, str] | None = None) -> NotifySecrets:
    cfg = config.notify
    hooks: list[bytes | None] = []
    for n, hook in enumerate(cfg.webhook):
        if not hook.secret_credential:
            hooks.append(None)
            continue
        value = secret(hook.secret_credential, hook.secret_credential.upper(), env)
        if not value:
            raise ConfigError(f"notify.webhook[{n}].secret_credential: no credential "
                              f"{hook.secret_credential!r} in $CREDENTIALS_DIRECTORY nor "
                              f"${hook.secret_credential.upper()}")
        hooks.append(value.encode())
    token = chat = ""
    if (tg := cfg.telegram) is not None:
        token = secret(TOKEN_NAME, TOKEN_ENV, env)
        if not token:
            raise ConfigError(f"notify.telegram: no bot token: set "
                              f"$CREDENTIALS_DIRECTORY/{TOKEN_NAME} or ${TOKEN_ENV}")
        chat = tg.chat_id or secret(CHAT_NAME, CHAT_ENV, env)
        if not chat:
            raise ConfigError(f"notify.telegram.chat_id: not set, nor "
                              f"$CREDENTIALS_DIRECTORY/{CHAT_NAME} or ${CHAT_ENV}")
        log.register_secret(chat)  # a chat id is how a stranger finds the bot's audience
    return NotifySecrets(token, chat, tuple(hooks))
