"""Credentials never reach any output of a real daemon: its JSON log (structlog and the
libraries' stdlib logging), its stderr lines, tracebacks, /metrics or the files it writes.

The venue is the local fake exchange, made to echo the key (and a short passphrase) in its
error messages, as some exchanges do: the worst case for a daemon that logs what failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import BinanceError, FakeBinanceThread
from tests.support.configs import CONTROL_TCP
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.http import TOKEN, control, metrics_text

pytestmark = pytest.mark.system
KEY, SECRET = "KEYabcdef0123456789leak", "SECRETzyxw9876543210leak"
PASSWORD = "pQ7zX"  # shorter than the 6 characters the redactor used to skip
ALTERNATE = ("tests.support.strategies:Alternate", 'symbol = "BTC/USDT"\nqty = "0.01"')
CREDS = {"TRADINGD_API_KEY": KEY, "TRADINGD_API_SECRET": SECRET,
         "TRADINGD_API_PASSWORD": PASSWORD}


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=3, tick_interval=0.05, api_key=KEY, api_secret=SECRET) as fx:
        yield fx


def outputs(d: DaemonProcess) -> str:
    """Everything the exited daemon wrote: every stdout line and the whole of stderr."""
    assert d.proc.stderr is not None
    return "".join(d.raw_lines) + "\n" + d.proc.stderr.read()


def assert_no_secret(text: str) -> None:
    for value in (KEY, SECRET, SECRET[::-1], PASSWORD, TOKEN):
        assert value not in text, f"{value[:3]}... leaked"


def files_under(root: Path) -> str:
    return "\n".join(Path(d, f).read_text(errors="replace") for d, _, files in os.walk(root)
                     for f in files if not f.endswith(".toml"))


def test_refused_and_failing_starts_print_no_secret(
        tmp_path: Path, fx: FakeBinanceThread, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: (1) a wrong secret for a real key: ccxt's error text includes the request it
    signed; exit 77. (2) the venue answers the startup balance query with an error that
    echoes the key and the passphrase: exit 69, and the one stderr line says why, redacted."""
    (tmp_path / "a").mkdir()
    bad = daemons(exchange_config(tmp_path / "a", fx.ccxt_config()),
                  env={**CREDS, "TRADINGD_API_SECRET": SECRET[::-1]})
    assert bad.wait_exit(30) == 77
    refused = outputs(bad)
    assert "refused our credentials" in refused

    echo = BinanceError(-1100, f"Illegal characters found in parameter 'apiKey'; legal "
                               f"range is '{KEY}' (passphrase '{PASSWORD}').").json()
    fx.call(lambda f: f.faults.server_error("/api/v3/account", n=5, status=400, body=echo))
    (tmp_path / "b").mkdir()
    failing = daemons(exchange_config(tmp_path / "b", fx.ccxt_config()), env=CREDS)
    assert failing.wait_exit(30) == 69
    unavailable = outputs(failing)
    assert "tradingd: exchange unavailable: fetch_balance: BadRequest" in unavailable
    assert "legal range is '[REDACTED]' (passphrase '[REDACTED]')" in unavailable
    assert "Traceback" not in unavailable
    assert_no_secret(refused + unavailable + files_under(tmp_path))


def test_a_live_run_that_crashes_on_an_echoed_key_leaks_nothing(
        tmp_path: Path, fx: FakeBinanceThread, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: trade live at debug level (ccxt logs every request's headers, the API key among
    them, through stdlib logging) with the control API on; call it with a wrong token and the
    right one; the venue rejects an order; then it refuses one with an authentication error
    that echoes the key and the passphrase: the daemon crashes (task.crashed with its
    traceback), takes the flatten path and exits 77. Nothing it wrote, served or stored holds
    a secret, and each of those paths was taken."""
    cfg = exchange_config(tmp_path, fx.ccxt_config(), strategy=ALTERNATE, flatten_timeout_s=3,
                          sections={"control": CONTROL_TCP})
    d = daemons(cfg, env={**CREDS, "TRADINGD_CONTROL_TOKEN": TOKEN, "LOG_LEVEL": "debug"})
    port = d.wait_for("daemon.started", 30)["metrics_port"]
    control_port = d.wait_for("control.listening", 10)["port"]
    assert control(control_port, "GET", "/status", f"Bearer {TOKEN[:-1]}x")[0] == 401
    assert control(control_port, "GET", "/status")[0] == 200
    d.wait_for("order.filled", 30)
    fx.call(lambda f: f.faults.reject_orders(-2010))
    d.wait_for("order.send_failed", 20)
    served = metrics_text(port)
    revoked = f"Signature for this request is not valid: key {KEY}, passphrase {PASSWORD}."
    fx.call(lambda f: f.faults.reject_orders(-1022, revoked))
    assert d.wait_exit(60) == 77
    text = outputs(d)

    def first(pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return next(r for r in d.records if pred(r))

    request = first(lambda r: str(r.get("logger", "")).startswith("ccxt")
                    and "X-MBX-APIKEY" in r["event"])
    assert "'X-MBX-APIKEY': '[REDACTED]'" in request["event"]
    crash = first(lambda r: r["event"] == "task.crashed")
    assert "key [REDACTED], passphrase [REDACTED]." in crash["exception"]
    assert d.find("control.unauthorized") is not None
    assert d.last_record["event"] == "shutdown.complete" and d.last_record["exit_code"] == 77
    assert_no_secret(text + served + files_under(tmp_path))

