"""The control API and `tradingd ctl`: real HTTP on loopback and a unix socket, real tokens."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import BUY_ONCE, CONTROL_TCP, CONTROL_UNIX, ROOT, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import TOKEN, TOKEN_ENV, control, metric

pytestmark = pytest.mark.system
Daemons = Callable[..., DaemonProcess]
ROUTES = [("GET", "/status"), ("POST", "/halt"), ("POST", "/resume"), ("POST", "/flatten"),
          ("GET", "/nope")]
BAD_AUTH = [None, "", "Bearer", "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", TOKEN,
            f"Bearer {TOKEN}x", f"bearer {TOKEN}"]


def has_position(rec: dict[str, Any]) -> bool:
    return rec.get("event") == "order.filled" and Decimal(rec["position"]) != 0


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRADINGD_CONTROL_TOKEN", "CREDENTIALS_DIRECTORY")}
    return {**env, **extra}


def test_control_api_without_the_token_is_401_and_changes_nothing(tmp_path: Path,
                                                                  daemons: Daemons) -> None:
    """Steps: buy-and-hold with control on loopback; every route, asked without the token or
    with a wrong one, answers 401 and the position and state stay as they were. With the token:
    status shows the books and limits; flatten closes the position and leaves REDUCING; halt
    latches HALTED; resume returns to ACTIVE. The token never reaches the log."""
    d = daemons(fast_config(tmp_path, BUY_ONCE, extra={"control": CONTROL_TCP}), env=TOKEN_ENV)
    metrics_port = d.wait_for("daemon.started", 30)["metrics_port"]
    port = d.wait_for("control.listening", 5)["port"]
    d.wait_for_match(30, has_position, "an open position")
    for method, path in ROUTES:
        for authorization in BAD_AUTH:
            code, body = control(port, method, path, authorization)
            assert (code, body) == (401, {"error": "unauthorized"}), (method, path, authorization)
    assert d.find("trading.halted") is None and d.find("flatten.started") is None
    assert metric(metrics_port, "tradingd_trading_state") == 0
    d.wait_for("control.unauthorized", 10, path="/status")  # the first; the rest are counted
    assert metric(metrics_port, "tradingd_control_unauthorized_total") == len(ROUTES) * len(
        BAD_AUTH)

    code, status = control(port, "GET", "/status")
    assert code == 200 and status["state"] == "active" and status["halt"]["latched"] is False
    assert status["positions"][0]["qty"] == "0.01" and Decimal(status["equity"]) > 0
    assert status["limits"]["max_order_notional"] == "20000"
    for key in ("cash", "daily_pnl", "equity_peak", "drawdown_ratio", "working_orders"):
        assert key in status

    code, body = control(port, "POST", "/flatten")
    assert (code, body) == (202, {"state": "reducing", "flatten": "requested"})
    assert d.wait_for("flatten.done", 20)["state"] == "reducing"
    assert control(port, "GET", "/status")[1]["positions"][0]["qty"] == "0"
    code, body = control(port, "POST", "/halt")
    assert code == 200 and body["state"] == "halted" and body["changed"] is True
    assert json.loads((tmp_path / "state" / "risk_state.json").read_text())["halted"] is True
    d.wait_for("flatten.done", 20, reason="halt:kill_switch")  # nothing left to close
    assert control(port, "POST", "/resume") == (200, {"state": "active"})
    assert metric(metrics_port, 'tradingd_circuit_breaker_trips_total{breaker="kill_switch"}'
                  ) == 1
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0
    assert TOKEN not in "".join(d.raw_lines) and TOKEN not in d.stderr_tail()


def ctl(config: Path, action: str, env: dict[str, str], *args: str
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", "ctl", action, "--config",
                           str(config), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_ctl_drives_the_daemon_over_its_unix_socket(tmp_path: Path, daemons: Daemons) -> None:
    """Steps: control on a unix socket under the state dir (mode 0600); `tradingd ctl` shows
    status, halts and resumes with the token; without a token it exits 78, with a wrong one 77,
    and the daemon's state does not move."""
    config = fast_config(tmp_path, BUY_ONCE, extra={"control": CONTROL_UNIX})
    d = daemons(config, env=TOKEN_ENV)
    where = d.wait_for("control.listening", 30)["address"]
    sock = tmp_path / "state" / "control.sock"
    assert where == f"unix:{sock}" and stat.S_IMODE(sock.stat().st_mode) == 0o600
    ok = ctl(config, "status", clean_env(**TOKEN_ENV))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["state"] == "active"

    assert ctl(config, "halt", clean_env()).returncode == 78
    wrong = tmp_path / "wrong_token"
    wrong.write_text("wrong-token-0123456789abcdef\n")
    refused = ctl(config, "halt", clean_env(), "--token-file", str(wrong))
    assert refused.returncode == 77 and "refused the token" in refused.stderr
    assert json.loads(ctl(config, "status", clean_env(**TOKEN_ENV)).stdout)["state"] == "active"

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "control_token").write_text(TOKEN + "\n")
    systemd_env = clean_env(CREDENTIALS_DIRECTORY=str(creds))
    assert json.loads(ctl(config, "halt", systemd_env).stdout)["state"] == "halted"
    assert json.loads(ctl(config, "status", systemd_env).stdout)["halt"]["latched"] is True
    assert json.loads(ctl(config, "resume", systemd_env).stdout)["state"] == "active"
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0
    assert not sock.exists()
    unreachable = ctl(config, "status", clean_env(**TOKEN_ENV))
    assert unreachable.returncode == 69 and "cannot reach" in unreachable.stderr


def test_control_enabled_without_a_token_exits_78_before_anything_starts(tmp_path: Path) -> None:
    config = fast_config(tmp_path, BUY_ONCE, extra={"control": CONTROL_TCP})
    proc = subprocess.run([sys.executable, "-m", "daemon", "run", "--config", str(config)],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "tradingd: config error: control: enabled but no control token found: set "
        "$CREDENTIALS_DIRECTORY/control_token (systemd LoadCredential=) or "
        "$TRADINGD_CONTROL_TOKEN, or set control.enabled = false")
