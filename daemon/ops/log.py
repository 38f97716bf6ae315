"""Logging: structlog, one JSON object per line on stdout (a console format on a TTY).

Every record has `event`, `level`, `ts` (UTC ISO) and, inside a task, `task`. A redaction
processor replaces any registered secret wherever it appears in a record, so a credential that
leaks into an exception message still never reaches the log.

Every other way text leaves the process goes through the same redaction: the stdlib `logging`
records of libraries (ccxt logs its requests' headers at debug, asyncio and aiohttp their
errors) are turned into structlog records by `configure()`, and `install_process_hooks()`
redacts uncaught tracebacks (main thread, threads, `__del__`) and warnings. For text the
daemon prints itself (the CLI's stderr lines) there is `redact()`.

Taps (`add_tap`) see every record that passes the level, before it is rendered: how the
notifier turns log events into messages without a second set of calls on the order path.
`configure(tap_level=...)` lets records below the log's own level reach the taps (and then
drops them), so a quieter log does not silence notifications.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Mapping, MutableMapping
from decimal import Decimal
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

import msgspec
import structlog

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
REDACTED = "[REDACTED]"


def register_secret(value: str) -> None:
    """Never output this value, nor the forms it takes in a URL, a repr or a JSON body.

    Every length counts: a short exchange passphrase is still a passphrase. (A one-character
    secret will shred the log, which is the lesser harm; the control token has a minimum
    length, and exchanges issue long keys.)"""
    global _pattern
    if not value:
        return
    forms = {value, quote(value, safe=""), quote_plus(value), repr(value)[1:-1],
             json.dumps(value)[1:-1]}
    _secrets.update(f for f in forms if f)
    # Longest first: a form that contains another is replaced whole.
    _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len,
                                                                   reverse=True)))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by REDACTED."""
    return text if _pattern is None else _pattern.sub(REDACTED, text)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {_scrub(k) if isinstance(k, str) else k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, bool | int | float | Decimal) or value is None:
        return value
    # Anything else is rendered as text later; render it now so the text can be checked.
    return redact(value if isinstance(value, str) else str(value))


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _pattern is None:
        return event
    return {k: _scrub(v) for k, v in event.items()}


Tap = Callable[[Mapping[str, Any]], None]
_taps: list[Tap] = []


def add_tap(tap: Tap) -> None:
    """Call `tap(record)` for every record that passes the level. It runs inside the logging
    call, on whatever task or thread logs: it must be quick and must not raise or log."""
    _taps.append(tap)


def remove_tap(tap: Tap) -> None:
    if tap in _taps:
        _taps.remove(tap)


def _run_taps(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for tap in _taps:
        tap(event)
    return event


_LEVELNO = {name.lower(): no for name, no in logging.getLevelNamesMapping().items()}


def _below(levelno: int) -> Any:
    """A processor that drops records below `levelno`, once the taps have seen them."""
    def drop(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if _LEVELNO.get(str(event.get("level")), logging.INFO) < levelno:
            raise structlog.DropEvent
        return event
    return drop


_encoder = msgspec.json.Encoder(enc_hook=str, decimal_format="string")


def _serialize(event: Any, **_: Any) -> str:
    return _encoder.encode(event).decode()


class _StdlibToStructlog(logging.Handler):
    """Hands every stdlib `logging` record to structlog: one format, one redactor."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exc_info"] = record.exc_info
        # The filtering logger knows the five standard levels only.
        level = min(max(record.levelno // 10 * 10, logging.DEBUG), logging.CRITICAL)
        try:
            structlog.get_logger().log(level, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # The default prints the record's message and arguments: unredacted.
        sys.stderr.write(f"tradingd: a log record from {record.name} could not be written\n")


def configure(level: str = "info", stream: TextIO | None = None,
              console: bool | None = None, tap_level: str | None = None) -> None:
    """`tap_level`: the lowest level the taps need (the notifier's: "info"), when lower than
    the log's `level`; without it, records below `level` cost nothing, as before."""
    out = stream or sys.stdout
    if console is None:
        console = out.isatty()
    renderer: Any = (structlog.dev.ConsoleRenderer() if console
                     else structlog.processors.JSONRenderer(serializer=_serialize))
    levelno = logging.getLevelNamesMapping()[level.upper()]
    tap_levelno = logging.getLevelNamesMapping()[(tap_level or level).upper()]
    gate = [_below(levelno)] if tap_levelno < levelno else []
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _run_taps,
            *gate,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(min(levelno, tap_levelno)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Each module-level logger binds its processors once, on first use: unbound, every
        # call (even one filtered out by level) built a new bound logger, ~4 us per order log.
        # configure() is meant to run once per process, before anything logs.
        cache_logger_on_first_use=True,
    )
    _forget_cached()
    # Libraries' stdlib records: through structlog, at the same level; no other handler, so
    # nothing reaches stderr unredacted (without a handler, logging's last resort prints
    # warnings there).
    root = logging.getLogger()
    root.handlers[:] = [_StdlibToStructlog()]
    root.setLevel(levelno)


def _write_redacted(text: str) -> None:
    try:
        sys.stderr.write(redact(text))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed: nothing else to do


def _excepthook(exc_type: type[BaseException], exc: BaseException,
                tb: TracebackType | None) -> None:
    _write_redacted("".join(traceback.format_exception(exc_type, exc, tb)))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _write_redacted(f"Exception in thread {name}:\n" + "".join(traceback.format_exception(
        args.exc_type, args.exc_value, args.exc_traceback)))


def _unraisablehook(args: Any) -> None:
    try:
        where = f"{args.err_msg or 'Exception ignored in'}: {args.object!r}"
    except Exception:
        where = "Exception ignored"
    _write_redacted(where + "\n" + "".join(traceback.format_exception(
        args.exc_type, args.exc_value, args.exc_traceback)))


def _showwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    _write_redacted(warnings.formatwarning(message, category, filename, lineno, line))


def install_process_hooks() -> None:
    """Redact what Python itself prints to stderr: uncaught exceptions in the main thread and
    in other threads, exceptions ignored in `__del__` and callbacks, and warnings. For a
    process entry point (the CLI); tests that configure logging do not need it."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook
    warnings.showwarning = _showwarning


LEVELS = ("debug", "info", "warning", "error", "exception", "critical")


class Logger:
    """A module's logger: structlog's bound logger with its level methods looked up once per
    `configure()`, not on every call. structlog's lazy proxy resolves `info` through its
    `__getattr__` on each call: 1.4 us for a record the level then drops, twice per order."""

    def __init__(self, name: str | None) -> None:
        self._proxy = structlog.get_logger(name) if name else structlog.get_logger()
        self._resolve()

    def _resolve(self) -> None:
        # Forget what the proxy cached on first use (its processors, level and stream), so
        # the configuration now in force is the one bound.
        self._proxy.__dict__.pop("bind", None)
        bound = self._proxy.bind()
        for level in LEVELS:
            setattr(self, level, getattr(bound, level))
        # For the order path's info records: skip building their fields when nothing (log or
        # tap) takes info.
        self.info_enabled: bool = bound.is_enabled_for(logging.INFO)

    def __getattr__(self, name: str) -> Any:  # anything else: the bound logger's own
        return getattr(self._proxy.bind(), name)


_loggers: weakref.WeakSet[Logger] = weakref.WeakSet()


def get(name: str | None = None) -> Any:
    logger = Logger(name)
    _loggers.add(logger)
    return logger


def _forget_cached() -> None:
    """A logger binds its processors, level and stream: bind them again, so a later
    `configure()` (a test's, with its own stream and level) applies to every logger."""
    for logger in list(_loggers):
        logger._resolve()


def bind_task(name: str) -> None:
    """Tag every record logged from the current task (contextvars are per task)."""
    structlog.contextvars.bind_contextvars(task=name)
