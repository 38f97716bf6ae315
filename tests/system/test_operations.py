"""Operations against the real daemon: metrics contract, health endpoints, a real Prometheus
scraping it, and credentials that never reach any output. (sd_notify: test_systemd_notify.py.)"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.metric_names import (
    family_of,
    load_contract,
    names_in_dashboard,
    names_in_exposition,
    names_in_rules,
)
from tests.ops.prometheus_server import render_config, run_prometheus, wait_for
from tests.support.configs import BUY_ONCE, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def trading_daemon(tmp_path: Path) -> Iterator[tuple[DaemonProcess, int]]:
    d = DaemonProcess(fast_config(tmp_path, BUY_ONCE))
    try:
        port = d.wait_for("daemon.started", 30)["metrics_port"]
        d.wait_for("order.filled", 30)
        yield d, port
        d.send(signal.SIGTERM)
        assert d.wait_exit(30) == 0
    finally:
        d.kill()


def test_every_contract_dashboard_and_alert_metric_is_exported(
        trading_daemon: tuple[DaemonProcess, int]) -> None:
    """Each family in deploy/metrics_contract.txt has at least one series on /metrics, and
    every name a dashboard panel or alert rule uses belongs to an exported family."""
    _, port = trading_daemon
    status, body = get(port, "/metrics")
    assert status == 200
    contract = load_contract()
    exported = {family_of(n, contract) for n in names_in_exposition(body.decode())}
    missing = sorted(set(contract) - exported)
    assert not missing, f"families with no series on /metrics: {missing}"
    used = names_in_dashboard(ROOT / "deploy/grafana/tradingd-dashboard.json") | names_in_rules(
        ROOT / "deploy/prometheus/alerts.yml")
    assert used and {family_of(n, contract) for n in used} <= exported


def test_health_endpoints_say_which_condition_fails(
        trading_daemon: tuple[DaemonProcess, int]) -> None:
    _, port = trading_daemon
    assert get(port, "/healthz") == (200, b'{"status": "ok"}')

    def ready() -> dict[str, Any] | None:
        status, body = get(port, "/readyz")
        doc: dict[str, Any] = json.loads(body)
        return doc if status == 200 else None

    doc = eventually(ready, 10, what="/readyz 200")
    assert doc["ready"] is True and all(doc["checks"].values())
    assert set(doc["checks"]) == {"trading", "connected", "reconciled", "market_data_fresh",
                                  "not_halted"}


def test_prometheus_scrapes_the_daemon_with_the_shipped_config(
        trading_daemon: tuple[DaemonProcess, int], tmp_path: Path) -> None:
    _, port = trading_daemon
    config = render_config(ROOT / "deploy/prometheus/prometheus.yml", tmp_path,
                           target=f"127.0.0.1:{port}")
    with run_prometheus(config, tmp_path) as prom:
        def up() -> list[dict[str, Any]] | None:
            result = prom.query('up{job="tradingd"}')
            return result if result and result[0]["value"][1] == "1" else None
        wait_for("up == 1", up)
        fills = wait_for("fills", lambda: prom.query("tradingd_fills_total") or None)
        assert float(fills[0]["value"][1]) >= 1
        assert prom.query('tradingd_position{instrument="BTC/USDT"}')


def test_credentials_never_reach_logs_metrics_or_files(tmp_path: Path) -> None:
    """Steps: give the daemon distinctive credentials and provoke errors that carry request
    details (a start the venue refuses, a live run with a rejected order); the
    values appear nowhere in stdout, stderr (debug level), the state files or /metrics."""
    from tests.fake_exchange import FakeBinanceThread
    from tests.support.exchange_config import exchange_config

    key, secret = "KEYabcdef0123456789leak", "SECRETzyxw9876543210leak"
    outputs: list[str] = []
    with FakeBinanceThread(seed=3, tick_interval=0.05, api_key=key, api_secret=secret) as fx:
        # 1: wrong secret for a real key: ccxt's error texts include the request it signed.
        (tmp_path / "a").mkdir()
        bad = DaemonProcess(exchange_config(tmp_path / "a", fx.ccxt_config()),
                            env={"TRADINGD_API_KEY": key, "TRADINGD_API_SECRET": secret[::-1]})
        try:
            assert bad.wait_exit(30) == 77
            outputs += [*bad.raw_lines, bad.stderr_tail()]
        finally:
            bad.kill()
        # 2: a full live run with faults, then a clean stop.
        (tmp_path / "b").mkdir()
        cfg = exchange_config(tmp_path / "b", fx.ccxt_config(), strategy=(
            "tests.support.strategies:Alternate", 'symbol = "BTC/USDT"\nqty = "0.01"'))
        d = DaemonProcess(cfg, env={"TRADINGD_API_KEY": key, "TRADINGD_API_SECRET": secret,
                                    "LOG_LEVEL": "debug"})
        try:
            port = d.wait_for("daemon.started", 30)["metrics_port"]
            d.wait_for("order.filled", 30)
            fx.call(lambda f: f.faults.reject_orders(-2010))
            d.wait_for("order.send_failed", 20)
            outputs.append(get(port, "/metrics")[1].decode())
            d.send(signal.SIGTERM)
            assert d.wait_exit(40) == 0
            outputs += [*d.raw_lines, d.stderr_tail()]
        finally:
            d.kill()
    for root, _, files in os.walk(tmp_path):
        outputs += [Path(root, f).read_text(errors="replace") for f in files
                    if not f.endswith(".toml")]
    text = "\n".join(outputs)
    assert "order.filled" in text and "refused our credentials" in text
    assert key not in text and secret not in text and secret[::-1] not in text
