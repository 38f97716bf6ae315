"""`tradingd ctl status|halt|resume|flatten`: the operator's client for the control API.

Finds the API from the same config file the daemon runs on (`[control]`), reads the token from
`--token-file`, `$CREDENTIALS_DIRECTORY/control_token` or `TRADINGD_CONTROL_TOKEN`, sends one
request with a timeout and prints the JSON answer. Standard library only: it must work when the
daemon's own dependencies are what is broken.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon.config import Config, resolve_path
from daemon.exitcodes import ExitCode
from daemon.ops import control_token

ACTIONS = {"status": ("GET", "/status"), "halt": ("POST", "/halt"),
           "resume": ("POST", "/resume"), "flatten": ("POST", "/flatten")}
TIMEOUT_S = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(cfg: Config) -> tuple[http.client.HTTPConnection, str]:
    if cfg.control.unix:
        path = resolve_path(cfg, cfg.daemon.state_dir) / cfg.control.unix
        return _UnixConnection(str(path), TIMEOUT_S), f"unix:{path}"
    host, port = cfg.control.host, cfg.control.port
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT_S), f"http://{host}:{port}"


def main(args: argparse.Namespace, fail: Any) -> int:
    return run(args.config, args.action, args.token_file)


def run(config_path: Path, action: str, token_file: Path | None) -> int:
    cfg = config_mod.load(config_path)
    if not cfg.control.enabled:
        print(f"tradingd ctl: control is not enabled in {config_path} ([control] enabled)",
              file=sys.stderr)
        return ExitCode.CONFIG
    token = control_token.load(token_file=token_file)
    if token is None:
        print(f"tradingd ctl: no control token: use --token-file or set {control_token.WHERE}",
              file=sys.stderr)
        return ExitCode.CONFIG
    method, path = ACTIONS[action]
    conn, where = _connection(cfg)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
    except OSError as err:
        print(f"tradingd ctl: cannot reach the control API at {where}: {err}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    finally:
        conn.close()
    try:
        print(json.dumps(json.loads(body), indent=2))
    except ValueError:
        print(body.decode(errors="replace"))
    if resp.status == 401:
        print("tradingd ctl: the control API refused the token", file=sys.stderr)
        return ExitCode.AUTH
    return ExitCode.OK if 200 <= resp.status < 300 else ExitCode.REFUSED
