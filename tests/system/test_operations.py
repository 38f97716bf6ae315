"""Operations against the real daemon: metrics contract, health endpoints, a real Prometheus
scraping it. (sd_notify: test_systemd_notify.py; credentials on every output: test_secrets.py.)"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
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
def trading_daemon(tmp_path: Path, daemons: Callable[..., DaemonProcess]
                   ) -> Iterator[tuple[DaemonProcess, int]]:
    d = daemons(fast_config(tmp_path, BUY_ONCE))
    port = d.wait_for("daemon.started", 30)["metrics_port"]
    d.wait_for("order.filled", 30)
    yield d, port
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0


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
