"""Does the daemon's stack survive the units' seccomp restrictions? (emulated)

Runs tests/ops/sandbox_workload.py (torch layers, aiohttp on loopback, DNS,
sd_notify) under the SystemCallFilter/RestrictAddressFamilies of the shipped
units via tests/ops/sandbox.py, and pins down the two measured reasons for
settings the units deliberately leave out or add:
MemoryDenyWriteExecute=yes breaks torch; SystemCallErrorNumber=EPERM is what
keeps `import torch` from being killed by the filter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.tools import REPO, require_tool

SANDBOX = REPO / "tests" / "ops" / "sandbox.py"
WORKLOAD = REPO / "tests" / "ops" / "sandbox_workload.py"
UNITS = [REPO / "systemd" / "tradingd.service", REPO / "systemd" / "tradingd@.service"]


def run_sandboxed(unit: Path, script: Path) -> subprocess.CompletedProcess[str]:
    require_tool("systemd-analyze")  # expands the @groups exactly as systemd does
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(SANDBOX), str(unit), str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_workload_runs_under_unit_filters(unit: Path) -> None:
    result = run_sandboxed(unit, WORKLOAD)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ok filter-active"  # the filter was really loaded
    assert "ok torch-conv1d" in lines and "ok http-loopback" in lines
    assert lines[-1] == "ALL OK"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = UNITS[0].read_text()
    assert old in text
    unit = tmp_path / "variant.service"
    unit.write_text(text.replace(old, new))
    return unit


def test_memory_deny_write_execute_breaks_torch_conv(tmp_path: Path) -> None:
    unit = _variant(
        tmp_path,
        "SystemCallErrorNumber=EPERM\n",
        "SystemCallErrorNumber=EPERM\nMemoryDenyWriteExecute=yes\n",
    )
    result = run_sandboxed(unit, WORKLOAD)
    assert result.returncode != 0, (
        "torch now runs under MemoryDenyWriteExecute=yes: consider enabling it in "
        "systemd/tradingd*.service and drop this test\n" + result.stdout
    )
    assert "could not create a primitive" in result.stderr, result.stderr


def test_without_errno_action_the_filter_kills_torch_import(tmp_path: Path) -> None:
    unit = _variant(tmp_path, "SystemCallErrorNumber=EPERM\n", "")
    script = tmp_path / "import_torch.py"
    script.write_text("import torch\nprint('imported')\n")
    result = run_sandboxed(unit, script)
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stderr)
