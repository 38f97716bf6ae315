"""Locating the external tools the ops tests need, failing (never skipping) if absent.

deploy/setup-test-tools.sh (run by `make test`) installs them; a test that
silently skipped on a machine without them would let a broken unit or rule
file land, so a missing tool is a test failure that says how to fix it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_PACKAGES = {"amtool": "prometheus-alertmanager"}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed; run `deploy/setup-test-tools.sh` as root "
            f"(make test does this) or install it from apt (package: "
            f"{_PACKAGES.get(name, 'systemd' if name.startswith('systemd') else 'prometheus')}).",
            pytrace=False,
        )
    return path
