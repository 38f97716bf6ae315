"""API credentials: from systemd credentials or the environment, never from config.toml.

`$CREDENTIALS_DIRECTORY/{api_key,api_secret,api_password}` (systemd `LoadCredential=`) wins
over `TRADINGD_API_KEY`, `TRADINGD_API_SECRET`, `TRADINGD_API_PASSWORD`. Every value is
registered with the log redactor as soon as it is read, and the object's repr hides them, so
neither a log line nor an exception message can carry a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from daemon.ops import log

_FIELDS = (("api_key", "TRADINGD_API_KEY"), ("api_secret", "TRADINGD_API_SECRET"),
           ("api_password", "TRADINGD_API_PASSWORD"))


class Credentials:
    __slots__ = ("api_key", "api_password", "api_secret", "source")

    def __init__(self, api_key: str, api_secret: str, api_password: str, source: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.api_password = api_password
        self.source = source

    @property
    def complete(self) -> bool:
        return bool(self.api_key and self.api_secret)

    def ccxt_fields(self) -> dict[str, str]:
        out = {"apiKey": self.api_key, "secret": self.api_secret}
        if self.api_password:
            out["password"] = self.api_password
        return out

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, complete={self.complete})"

    __str__ = __repr__


def _read(directory: Path | None, name: str, env_name: str) -> tuple[str, str]:
    if directory is not None:
        path = directory / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip(), "credentials directory"
    value = os.environ.get(env_name, "").strip()
    return value, "environment" if value else ""


def load() -> Credentials:
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    directory = Path(cred_dir) if cred_dir else None
    values: dict[str, str] = {}
    sources: set[str] = set()
    for name, env_name in _FIELDS:
        value, source = _read(directory, name, env_name)
        values[name] = value
        if value:
            log.register_secret(value)
            sources.add(source)
    return Credentials(values["api_key"], values["api_secret"], values["api_password"],
                       " + ".join(sorted(sources)) or "none")


def secret(name: str, env_name: str, env: Mapping[str, str] | None = None) -> str:
    """One more secret (the notifier's bot token, a webhook's HMAC key): the file `name` in
    `$CREDENTIALS_DIRECTORY`, else `$env_name`; "" if neither. Registered with the redactor."""
    env = os.environ if env is None else env
    value = ""
    if cred_dir := env.get("CREDENTIALS_DIRECTORY"):
        path = Path(cred_dir) / name
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
    value = value or env.get(env_name, "").strip()
    log.register_secret(value)
    return value
