"""The log redactor: a registered secret never survives into a rendered record, whichever way
the text leaves the process (structlog, stdlib logging, Python's own traceback printing)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ops import log

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_stdlib_logging() -> Iterator[None]:
    """configure() takes over the root logger, as it should in the daemon; not in pytest."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_secret_is_redacted_in_fields_nested_values_and_tracebacks() -> None:
    secret = "s3cr3t-value-123"
    out = io.StringIO()
    log.configure("debug", stream=out, console=False)
    log.register_secret(secret)
    logger = log.get("t")
    logger.info("plain", note=f"key={secret}", nested={"a": [secret, 1], secret: "k"}, n=5)
    try:
        raise RuntimeError(f"request signed with {secret} failed")
    except RuntimeError:
        logger.exception("boom")
    text = out.getvalue()
    assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["note"] == f"key={log.REDACTED}"
    assert first["nested"] == {"a": [log.REDACTED, 1], log.REDACTED: "k"}
    assert first["n"] == 5 and log.REDACTED in second["exception"]


def test_short_secrets_are_redacted_too() -> None:
    """An exchange passphrase of a few characters is still a secret: it used to be skipped
    (under 6 characters) and printed as is."""
    out = io.StringIO()
    log.configure("info", stream=out, console=False)
    log.register_secret("Zq9x")
    log.get().info("auth failed", error="passphrase Zq9x refused")
    assert "Zq9x" not in out.getvalue() and log.REDACTED in out.getvalue()


def test_url_quoted_and_escaped_forms_are_redacted() -> None:
    secret = "k/e+y \"q\" 9"
    log.register_secret(secret)
    for form in ("k%2Fe%2By%20%22q%22%209", "k%2Fe%2By+%22q%22+9", 'k/e+y \\"q\\" 9'):
        assert log.redact(f"GET /x?apiKey={form}&a=1") == f"GET /x?apiKey={log.REDACTED}&a=1"


def test_stdlib_logging_goes_through_the_redactor_not_to_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Libraries log through stdlib `logging` (ccxt its request headers at debug, asyncio the
    exceptions of tasks nobody awaited): each record becomes a redacted JSON line; before,
    logging's last-resort handler printed warnings to stderr as they were."""
    secret = "stdlib-secret-4711"
    out = io.StringIO()
    log.configure("debug", stream=out, console=False)
    log.register_secret(secret)
    logging.getLogger("ccxt.base.exchange").debug(
        "%s %s, Request: %s %s", "GET", "http://x/api", {"X-MBX-APIKEY": secret}, None)
    logging.getLogger("aiohttp.client").warning("echo %s", secret)
    try:
        raise ValueError(f"key {secret}")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    logging.getLogger("quiet").log(5, "below debug: dropped")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["logger"], r["level"]) for r in records] == [
        ("ccxt.base.exchange", "debug"), ("aiohttp.client", "warning"), ("asyncio", "error")]
    assert log.REDACTED in records[0]["event"] and log.REDACTED in records[2]["exception"]
    captured = capsys.readouterr()
    assert secret not in out.getvalue() + captured.out + captured.err
    assert captured.err == ""


def test_stdlib_records_below_the_level_are_dropped() -> None:
    out = io.StringIO()
    log.configure("warning", stream=out, console=False)
    logging.getLogger("ccxt.base.exchange").debug("Request headers")
    logging.getLogger("ccxt.base.exchange").info("info")
    assert out.getvalue() == ""


HOOKED = """
import sys, threading, warnings
from daemon.ops import log
log.install_process_hooks()
log.register_secret(sys.argv[1])
t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError("thread " + sys.argv[1])))
t.start(); t.join()
class Leaky:
    def __del__(self):
        raise RuntimeError("del " + sys.argv[1])
Leaky()
warnings.warn("warned " + sys.argv[1])
raise RuntimeError("uncaught " + sys.argv[1])
"""


def test_uncaught_tracebacks_and_warnings_are_redacted() -> None:
    """Steps: a real interpreter with the process hooks installed raises in a thread, in a
    `__del__`, warns, and dies of an uncaught exception, each message carrying the secret;
    stderr shows all four, redacted."""
    secret = "hook-secret-0815"
    result = subprocess.run([sys.executable, "-c", HOOKED, secret], cwd=ROOT, text=True,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert secret not in out
    for what in ("thread", "del", "warned", "uncaught"):
        assert f"{what} {log.REDACTED}" in out, out


@pytest.mark.parametrize(("tap_level", "tapped"), [(None, ["loud"]), ("info", ["quiet", "loud"])])
def test_taps_see_records_down_to_their_level_and_the_log_keeps_its_own(
        tap_level: str | None, tapped: list[str]) -> None:
    """A log at warning: without a tap level the taps see what the log shows; with "info"
    they see the info record too, and the log still shows only the warning."""
    out = io.StringIO()
    log.configure("warning", stream=out, console=False, tap_level=tap_level)
    seen: list[str] = []

    def tap(record: Any) -> None:
        seen.append(record["event"])

    log.add_tap(tap)
    try:
        log.get("t").info("quiet")
        log.get("t").warning("loud")
    finally:
        log.remove_tap(tap)
    assert seen == tapped
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["loud"]


def test_info_enabled_says_whether_an_info_record_is_taken() -> None:
    """The order path skips building its info records' fields when neither the log nor a tap
    takes them; a tap level of info turns them back on under a quieter log."""
    logger = log.get("t")
    log.configure("warning", stream=io.StringIO(), console=False)
    assert logger.info_enabled is False
    log.configure("warning", stream=io.StringIO(), console=False, tap_level="info")
    assert logger.info_enabled is True
    log.configure("info", stream=io.StringIO(), console=False)
    assert logger.info_enabled is True
