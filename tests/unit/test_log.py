"""The log redactor: a registered secret never survives into a rendered record."""

from __future__ import annotations

import io
import json

from daemon import log


def test_secret_is_redacted_in_fields_nested_values_and_tracebacks() -> None:
    secret = "s3cr3t-value-123"
    out = io.StringIO()
    log.configure("debug", stream=out, console=False)
    log.register_secret(secret)
    logger = log.get("t")
    logger.info("plain", note=f"key={secret}", nested={"a": [secret, 1]}, n=5)
    try:
        raise RuntimeError(f"request signed with {secret} failed")
    except RuntimeError:
        logger.exception("boom")
    text = out.getvalue()
    assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["note"] == f"key={log.REDACTED}" and first["nested"] == {"a": [log.REDACTED, 1]}
    assert first["n"] == 5 and log.REDACTED in second["exception"]


def test_short_values_are_not_registered() -> None:
    out = io.StringIO()
    log.configure("info", stream=out, console=False)
    log.register_secret("abc")
    log.get().info("abc abc")
    assert "abc abc" in out.getvalue()
