"""The control API's bearer token: where it comes from and how a presented one is checked.

Sources, first found wins: `$CREDENTIALS_DIRECTORY/control_token` (systemd `LoadCredential=`),
then the `TRADINGD_CONTROL_TOKEN` environment variable. The token is registered with the log's
redaction before anything can log it, and compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from daemon.config import ConfigError
from daemon.ops import log

CREDENTIAL_NAME = "control_token"
ENV_VAR = "TRADINGD_CONTROL_TOKEN"
MIN_LENGTH = 16
WHERE = (f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME} (systemd LoadCredential=) or "
         f"${ENV_VAR}")


def load(env: Mapping[str, str] | None = None, token_file: Path | None = None) -> str | None:
    """The token, or None if no source has one; `ConfigError` if one is unusable."""
    env = os.environ if env is None else env
    token: str | None = None
    source = ""
    paths = [token_file] if token_file is not None else []
    if creds := env.get("CREDENTIALS_DIRECTORY"):
        paths.append(Path(creds) / CREDENTIAL_NAME)
    for path in paths:
        try:
            token, source = path.read_text(encoding="utf-8").strip(), str(path)
            break
        except FileNotFoundError:
            if path == token_file:
                raise ConfigError(f"control: token file {path} not found") from None
        except OSError as err:
            raise ConfigError(f"control: cannot read token file {path}: {err.strerror}") from None
    if token is None and env.get(ENV_VAR):
        token, source = env[ENV_VAR].strip(), ENV_VAR
    if not token:
        return None
    log.register_secret(token)
    if len(token) < MIN_LENGTH:
        raise ConfigError(f"control: the token from {source} is too short "
                          f"({len(token)} characters; at least {MIN_LENGTH})")
    return token


def require(env: Mapping[str, str] | None = None) -> str:
    token = load(env)
    if token is None:
        raise ConfigError(f"control: enabled but no control token found: set {WHERE}, "
                          "or set control.enabled = false")
    return token


def authorized(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time (no early exit on a prefix)."""
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
