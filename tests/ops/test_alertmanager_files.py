"""amtool checks of the shipped Alertmanager config (deploy/alertmanager/alertmanager.yml).

`amtool check-config` validates it; `amtool config routes test` shows where an alert goes:
critical alerts page (`page`), the rest notify the webhook (`notify`). The checks also run
on a broken copy, so a check that passes on anything would be noticed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.ops.tools import REPO, require_tool

CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("amtool"), *args], capture_output=True, text=True,
                          timeout=60)


def test_amtool_check_config_passes() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "2 receivers" in result.stdout


def test_amtool_check_config_fails_on_a_broken_copy(tmp_path: Path) -> None:
    broken = CONFIG.read_text().replace("receiver: page", "receiver: nobody")
    assert broken != CONFIG.read_text()
    (tmp_path / "alertmanager.yml").write_text(broken)
    result = amtool("check-config", str(tmp_path / "alertmanager.yml"))
    assert result.returncode != 0


def test_critical_alerts_page_and_others_notify() -> None:
    def route(*labels: str) -> str:
        result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    assert route("alertname=TradingdHalted", "severity=critical") == "page"
    assert route("alertname=TradingdDataStale", "severity=warning") == "notify"


def test_the_webhook_receiver_sends_resolved_alerts_too() -> None:
    text = CONFIG.read_text()
    assert "send_resolved: true" in text
    assert "bot_token:" not in text  # a token never goes in a shipped file
