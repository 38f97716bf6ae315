"""promtool checks of the shipped Prometheus configs and alert rules.

`promtool check config` validates both scrape configs (and the rule file and
file_sd files they reference), `check rules` the rule syntax, and
`test rules` runs deploy/prometheus/alerts_test.yml, where every alert is
shown to fire on bad series and stay quiet on healthy ones.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.ops.tools import REPO, require_tool

PROM_DIR = REPO / "deploy" / "prometheus"
ALERTS_TEXT = (PROM_DIR / "alerts.yml").read_text()
ALERT_NAMES = re.findall(r"^\s*- alert:\s*(\S+)", ALERTS_TEXT, re.MULTILINE)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    # cwd: rule_files and file_sd paths are relative to the config file; run
    # from its directory like an operator would after copying the files.
    return subprocess.run(
        [require_tool("promtool"), *args],
        capture_output=True,
        text=True,
        cwd=PROM_DIR,
        timeout=120,
    )


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-instances.yml"])
def test_promtool_check_config(config: str) -> None:
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 21 rules found" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_catches_a_broken_rule(tmp_path: Path) -> None:
    """Guards the test above: the unit tests must notice a wrong threshold."""
    (tmp_path / "alerts_test.yml").write_text((PROM_DIR / "alerts_test.yml").read_text())
    broken = ALERTS_TEXT.replace('{limit="max_drawdown_pct"} / 100', '{limit="max_drawdown_pct"}')
    assert broken != ALERTS_TEXT
    (tmp_path / "alerts.yml").write_text(broken)
    result = subprocess.run(
        [require_tool("promtool"), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TradingdDrawdownNearLimit" in result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tested = set(re.findall(r"alertname:\s*(\S+)", (PROM_DIR / "alerts_test.yml").read_text()))
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES)) == 21
    assert set(ALERT_NAMES) - tested == set()


def test_every_alert_has_severity_and_a_runbook_section() -> None:
    runbook = (PROM_DIR / "RUNBOOK.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (\S+)", runbook, re.MULTILINE)}
    blocks = re.split(r"^\s*- alert:", ALERTS_TEXT, flags=re.MULTILINE)[1:]
    for block in blocks:
        name = block.split()[0]
        assert re.search(r"severity: (critical|warning)\n", block), name
        link = re.search(r'runbook: "RUNBOOK\.md#([a-z]+)"', block)
        assert link and link.group(1) == name.lower(), name
        assert link.group(1) in anchors, f"RUNBOOK.md has no section for {name}"
