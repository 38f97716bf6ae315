"""`promtool check metrics` on a running daemon's real /metrics exposition.

promtool parses the text format exactly as Prometheus's scraper does and lints it (help text,
`_total` on counters, base units, no type names in metric names): what the stand-in exporter
of the other ops tests cannot prove about the daemon's own output.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.ops.tools import require_tool
from tests.support.configs import BUY_ONCE, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import metrics_text
from tests.support.wait import eventually


def promtool_check(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), "check", "metrics"], input=exposition,
                          capture_output=True, text=True, timeout=30, check=False)


def test_promtool_finds_a_bad_exposition() -> None:
    """The check below can fail: promtool reports a counter without `_total` and a unit."""
    bad = "# HELP x_count n\n# TYPE x_count counter\nx_count 1\n"
    result = promtool_check(bad)
    assert result.returncode != 0 and "_total" in result.stdout + result.stderr


def test_running_daemon_metrics_pass_promtool_check(tmp_path: Path) -> None:
    """Steps: start the daemon on paper, wait until it has filled an order and its health
    task has published the books (every family has samples, histograms have observations);
    `promtool check metrics` on /metrics reports nothing; SIGTERM, exit 0."""
    d = DaemonProcess(fast_config(tmp_path, BUY_ONCE))
    try:
        port = d.wait_for("daemon.started", 30)["metrics_port"]
        d.wait_for("order.filled", 30)

        def published() -> str | None:
            text = metrics_text(port)
            idle = ("tradingd_bar_to_order_latency_seconds_count 0.0", "tradingd_equity 0.0")
            return None if any(line in text.splitlines() for line in idle) else text

        text = eventually(published, 10, what="the books and an order on /metrics")
        result = promtool_check(text)
        assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
            result.stdout + result.stderr)
        assert "# TYPE tradingd_fills_total counter" in text  # it checked the real thing
        d.send(signal.SIGTERM)
        assert d.wait_exit(30) == 0
    finally:
        d.kill()
