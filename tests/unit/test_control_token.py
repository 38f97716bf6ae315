"""Where the control token comes from, and that it is checked in full and never logged."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from daemon.config import ConfigError
from daemon.ops import control_token, log

TOKEN = "s3cret-token-0123456789"


def test_systemd_credential_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "control_token").write_text(TOKEN + "\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "TRADINGD_CONTROL_TOKEN": "x" * 20}
    assert control_token.load(env) == TOKEN


def test_environment_is_used_without_a_credential(tmp_path: Path) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "TRADINGD_CONTROL_TOKEN": TOKEN}
    assert control_token.load(env) == TOKEN


def test_no_token_anywhere_is_a_config_error_only_when_required() -> None:
    assert control_token.load({}) is None
    with pytest.raises(ConfigError, match=r"^control: enabled but no control token found"):
        control_token.require({})


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        control_token.load({"TRADINGD_CONTROL_TOKEN": "short-token"})


def test_only_the_exact_bearer_header_is_authorized() -> None:
    assert control_token.authorized(f"Bearer {TOKEN}", TOKEN)
    for header in ["", TOKEN, f"bearer {TOKEN}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x",
                   f"Basic {TOKEN}", f"Bearer  {TOKEN}"]:
        assert not control_token.authorized(header, TOKEN), header


def test_a_loaded_token_is_redacted_from_every_log_line() -> None:
    control_token.load({"TRADINGD_CONTROL_TOKEN": TOKEN})
    out = io.StringIO()
    log.configure("info", stream=out, console=False)
    log.get("t").error("oops", error=f"header was Bearer {TOKEN}", nested={"t": [TOKEN]})
    assert TOKEN not in out.getvalue() and log.REDACTED in out.getvalue()
