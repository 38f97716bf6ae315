"""The shipped systemd units: offline verify, hardening score, contract settings.

systemd is not PID 1 in CI (a container), so everything here is offline:
`systemd-analyze verify` loads the unit like the manager would (and checks
ExecStart exists), `systemd-analyze security --offline=true` scores it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.ops.sandbox import unit_values
from tests.ops.tools import REPO, require_tool

UNITS = {
    "tradingd.service": REPO / "systemd" / "tradingd.service",
    "tradingd@.service": REPO / "systemd" / "tradingd@.service",
}
INSTALL_PREFIX = "/opt/tradingd/venv"  # where deploy/install.sh puts the venv
MAX_EXPOSURE = 2.0
FLATTEN_TIMEOUT_DEFAULT_S = 30.0  # shutdown.flatten_timeout_s default (contract)


def seconds(span: str) -> float:
    """Parse a systemd time span like '90s', '1min 30s', '2m', '45'."""
    units = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "ms": 0.001}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts, f"unparseable time span {span!r}"
    for number, unit in parts:
        total += float(number) * units[unit]
    return total


def render_with_real_executable(unit: Path, dest: Path) -> Path:
    """Copy the unit with the install prefix pointed at this checkout's venv.

    `verify` fails when ExecStart's binary is missing, and /opt/tradingd is
    not installed on a test machine. The repo's .venv has the very same
    layout install.sh creates (venv/bin/tradingd is the console script of
    this package), so only the prefix changes; every other line is verified
    as shipped.
    """
    text = unit.read_text()
    assert INSTALL_PREFIX in text
    venv = REPO / ".venv"
    assert (venv / "bin" / "tradingd").exists(), "run `make .venv/.installed` first"
    rendered = dest / unit.name
    rendered.write_text(text.replace(INSTALL_PREFIX, str(venv)))
    return rendered


@pytest.mark.parametrize(
    ("unit_name", "verify_as"),
    [("tradingd.service", "tradingd.service"), ("tradingd@.service", "tradingd@acct1.service")],
)
def test_systemd_analyze_verify_is_clean(unit_name: str, verify_as: str, tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    render_with_real_executable(UNITS[unit_name], tmp_path)
    # verify prints warnings (unknown keys, bad values) but still exits 0,
    # so silence on stderr is part of passing.
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / verify_as)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_encrypted_credentials_drop_in_verifies(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    render_with_real_executable(UNITS["tradingd.service"], tmp_path)
    drop_in_dir = tmp_path / "tradingd.service.d"
    drop_in_dir.mkdir()
    drop_in = (REPO / "systemd" / "encrypted-credentials.conf").read_text()
    (drop_in_dir / "encrypted-credentials.conf").write_text(drop_in)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "tradingd.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    encrypted = unit_values(drop_in, "LoadCredentialEncrypted")
    assert {v.split(":", 1)[0] for v in encrypted} == {
        "api_key",
        "api_secret",
        "api_password",
        "control_token",
    }
    assert unit_values(drop_in, "LoadCredential") == [""]  # resets the unit's list


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """Guards the test above: a misspelt key must produce output."""
    analyze = require_tool("systemd-analyze")
    rendered = render_with_real_executable(UNITS["tradingd.service"], tmp_path)
    rendered.write_text(rendered.read_text().replace("KillMode=", "KillMod="))
    drop_in_dir = tmp_path / "tradingd.service.d"
    drop_in_dir.mkdir()
    (drop_in_dir / "typo.conf").write_text("[Service]\nLoadCredentialEncryptd=x:/y\n")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(rendered)], capture_output=True, text=True, timeout=60
    )
    assert "KillMod" in result.stderr
    assert "LoadCredentialEncryptd" in result.stderr  # drop-ins are read too


@pytest.mark.parametrize("unit_name", sorted(UNITS))
def test_security_exposure_at_most_2(unit_name: str) -> None:
    analyze = require_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNITS[unit_name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Invalid" not in result.stderr, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit_name", sorted(UNITS))
def test_contract_settings(unit_name: str) -> None:
    text = UNITS[unit_name].read_text()

    def one(key: str) -> str:
        values = unit_values(text, key)
        assert len(values) == 1, f"{key}: {values}"
        return values[0]

    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert 0 < seconds(one("WatchdogSec")) <= 120
    assert one("Restart") == "on-failure"
    assert {"77", "78"} <= set(one("RestartPreventExitStatus").split())
    assert one("KillSignal") == "SIGTERM"
    assert one("KillMode") == "mixed"
    # systemd must not SIGKILL the daemon while it is still flattening.
    assert seconds(one("TimeoutStopSec")) >= 2 * FLATTEN_TIMEOUT_DEFAULT_S
    assert unit_values(text, "ExecReload")[-1] == "/bin/kill -HUP $MAINPID"
    assert one("User") == "tradingd"
    assert unit_values(text, "DynamicUser") in ([], ["no"])
    instance = "/%i" if "@" in unit_name else ""
    assert one("StateDirectory") == f"tradingd{instance}"
    assert one("ConfigurationDirectory") == "tradingd"
    config = f"/etc/tradingd/{'%i' if instance else 'tradingd'}.toml"
    assert one("ExecStart") == f"{INSTALL_PREFIX}/bin/tradingd run --config {config}"

    loaded = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in unit_values(text, "LoadCredential")}
    assert set(loaded) == {"api_key", "api_secret", "api_password", "control_token"}
    for cred, path in loaded.items():
        assert path == f"/etc/tradingd/credentials{instance}/{cred}"
    # api_password is optional: a SetCredential default keeps a missing file
    # from failing the start. The others must fail the start if missing.
    assert [v.split(":", 1)[0] for v in unit_values(text, "SetCredential")] == ["api_password"]

    # Descriptors with headroom: the listeners and the venue's connections, many times over
    # (systemd's default soft limit is 1024; a 256 limit once starved the daemon).
    assert int(one("LimitNOFILE")) >= 4096

    # Measured incompatibility with torch (see test_sandbox.py); never "yes".
    assert unit_values(text, "MemoryDenyWriteExecute") == []
    assert one("SystemCallErrorNumber") == "EPERM"


def _normalise(text: str) -> list[str]:
    """Settings lines of a unit with per-instance parts folded back."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("Description="):
            continue
        line = line.replace("/etc/tradingd/%i.toml", "/etc/tradingd/tradingd.toml")
        lines.append(line.replace("/%i", ""))
    return lines


def test_template_differs_only_in_instance_paths() -> None:
    single = _normalise(UNITS["tradingd.service"].read_text())
    template = _normalise(UNITS["tradingd@.service"].read_text())
    assert template == single
