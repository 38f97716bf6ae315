"""`tradingd ctl status|halt|resume|flatten|twap|pov|algos|cancel-algo`: the operator's client
for the control API.

Finds the API from the same config file the daemon runs on (`[control]`), reads the token from
`--token-file`, `$CREDENTIALS_DIRECTORY/control_token` or `TRADINGD_CONTROL_TOKEN`, sends one
request with a timeout and prints the JSON answer. Standard library only: it must work when the
daemon's own dependencies are what is broken.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon.config import Config, resolve_path
from daemon.exitcodes import ExitCode
from daemon.ops import control_token

ACTIONS = {"status": ("GET", "/status"), "halt": ("POST", "/halt"),
           "resume": ("POST", "/resume"), "flatten": ("POST", "/flatten"),
           "twap": ("POST", "/algos/twap"), "pov": ("POST", "/algos/pov"),
           "algos": ("GET", "/algos")}
TIMEOUT_S = 10.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(Exception):
    """A missing or malformed ctl argument; the message names it."""


def duration_s(text: str) -> float:
    """`90s`, `30m`, `2h`, `1d` or plain seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None or float(m[1]) <= 0:
        raise UsageError(f"--over: {text!r} is not a duration like 90s, 30m or 2h")
    return float(m[1]) * _UNITS[m[2] or "s"]


def request_of(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """(method, path, JSON body) for an action and its arguments."""
    action = args.action
    if action == "cancel-algo":
        if not args.id:
            raise UsageError("cancel-algo: the parent order's id is required (see ctl algos)")
        return "POST", f"/algos/{args.id}/cancel", None
    method, path = ACTIONS[action]
    if action not in ("twap", "pov"):
        return method, path, None
    for name in ("symbol", "side", "qty"):
        if not getattr(args, name):
            raise UsageError(f"{action}: --{name} is required")
    body: dict[str, Any] = {"symbol": args.symbol, "side": args.side, "qty": args.qty}
    if action == "twap":
        if not args.over:
            raise UsageError("twap: --over is required (e.g. --over 30m)")
        body.update(duration_s=duration_s(args.over), slices=args.slices,
                    limit_at_touch=args.limit_at_touch, seed=args.seed)
    else:
        if not args.rate:
            raise UsageError("pov: --rate is required (e.g. --rate 0.1)")
        body.update(rate=args.rate, duration_s=duration_s(args.over or "1h"))
    return method, path, body


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
    try:
        method, path, body = request_of(args)
    except UsageError as err:
        fail(f"ctl: {err}")
        return 2  # argparse's own code for a usage error: nothing was sent
    return run(args.config, args.action, args.token_file, (method, path, body))


def run(config_path: Path, action: str, token_file: Path | None,
        request: tuple[str, str, dict[str, Any] | None] | None = None) -> int:
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
    method, path, payload = request or (*ACTIONS[action], None)
    conn, where = _connection(cfg)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
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
