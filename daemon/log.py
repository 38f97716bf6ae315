"""Logging: structlog, one JSON object per line on stdout (a console format on a TTY).

Every record has `event`, `level`, `ts` (UTC ISO) and, inside a task, `task`. A redaction
processor replaces any registered secret wherever it appears in a record, so a credential that
leaks into an exception message still never reaches the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any, TextIO

import msgspec
import structlog

_secrets: set[str] = set()
REDACTED = "[REDACTED]"


def register_secret(value: str) -> None:
    """Never log this value. Short values are ignored: redacting "a" would shred every line."""
    if len(value) >= 6:
        _secrets.add(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, bool | int | float | Decimal) or value is None:
        return value
    # Anything else is rendered as text later; render it now so the text can be checked.
    text = value if isinstance(value, str) else str(value)
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    return {k: _scrub(v) for k, v in event.items()}


_encoder = msgspec.json.Encoder(enc_hook=str, decimal_format="string")


def _serialize(event: Any, **_: Any) -> str:
    return _encoder.encode(event).decode()


def configure(level: str = "info", stream: TextIO | None = None,
              console: bool | None = None) -> None:
    out = stream or sys.stdout
    if console is None:
        console = out.isatty()
    renderer: Any = (structlog.dev.ConsoleRenderer() if console
                     else structlog.processors.JSONRenderer(serializer=_serialize))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Each module-level logger binds its processors once, on first use: unbound, every
        # call (even one filtered out by level) built a new bound logger, ~4 us per order log.
        # configure() is meant to run once per process, before anything logs.
        cache_logger_on_first_use=True,
    )


def get(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()


def bind_task(name: str) -> None:
    """Tag every record logged from the current task (contextvars are per task)."""
    structlog.contextvars.bind_contextvars(task=name)
