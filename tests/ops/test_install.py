"""deploy/install.sh and deploy/setup-test-tools.sh: lint, and the install plan.

The installer creates a user and writes to /opt, /etc and /etc/systemd, so
tests do not run it for real on the test machine; its --dry-run prints every
change it would make (all changes go through one `run` function), and the
plan is checked here against what the units expect to find.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.ops.sandbox import unit_values
from tests.ops.tools import REPO, require_tool

INSTALL = REPO / "deploy" / "install.sh"


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [INSTALL, REPO / "deploy" / "setup-test-tools.sh"]
    result = subprocess.run(
        [require_tool("shellcheck"), "--severity=info", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), "--dry-run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHON": "python3"},
    )


def plan(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def test_dry_run_plan_matches_the_units() -> None:
    result = dry_run()
    assert result.returncode == 0, result.stderr
    steps = plan(result)
    text = "\n".join(steps)
    assert "dry run: nothing was changed" in result.stdout
    # The units run /opt/tradingd/venv/bin/tradingd as User=tradingd.
    unit = (REPO / "systemd" / "tradingd.service").read_text()
    assert unit_values(unit, "ExecStart")[0].startswith("/opt/tradingd/venv/bin/tradingd ")
    assert "python3 -m venv /opt/tradingd/venv" in text
    assert f"/opt/tradingd/venv/bin/python -m pip install --quiet {REPO}" in text
    assert "torch==2.13.0" in text
    # With the extra that brings mypyc; the plan prints shell-quoted words.
    assert f"/opt/tradingd/venv/bin/python -m pip install --quiet {REPO}\\[accel\\]" in text
    assert "/opt/tradingd/venv/bin/python -m daemon.accel.build" in text
    # /etc/tradingd readable by the service's group, credentials root-only:
    # systemd (root) copies credentials, the service never reads the files.
    assert "install -d -m 0750 -o root -g tradingd /etc/tradingd" in text
    assert "install -d -m 0700 -o root -g root /etc/tradingd/credentials" in text
    units = [s for s in steps if s.endswith("/etc/systemd/system/")]
    assert len(units) == 1 and "tradingd.service" in units[0] and "tradingd@.service" in units[0]
    assert steps[-1] == "systemctl daemon-reload"
    # Never enables or starts anything on its own.
    assert not any("enable" in s or "start" in s for s in steps)


def test_dry_run_instance_with_config_and_grafana() -> None:
    config = REPO / "deploy" / "metrics_contract.txt"  # any readable file
    result = dry_run("--instance", "binance-main", "--config", str(config), "--grafana")
    assert result.returncode == 0, result.stderr
    text = "\n".join(plan(result))
    assert f"install -m 0640 -o root -g tradingd {config} /etc/tradingd/binance-main.toml" in text
    assert "install -d -m 0700 -o root -g root /etc/tradingd/credentials/binance-main" in text
    # The config is validated as the service user, so permissions are tested too.
    assert "runuser -u tradingd -- /opt/tradingd/venv/bin/tradingd check-config" in text
    assert "/var/lib/grafana/dashboards/tradingd/" in text
    assert "systemctl enable --now tradingd@binance-main.service" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--instance", "../etc"], ["--instance", "a b"], ["--config", "/nonexistent.toml"], ["--x"]],
)
def test_bad_arguments_are_refused(args: list[str]) -> None:
    result = dry_run(*args)
    assert result.returncode == 2
    assert plan(result) == []
