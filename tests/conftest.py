"""Shared test settings and fixtures: hypothesis profiles, and the one way a test starts the
daemon as a process (`daemons`).

`make test` runs the `ci` profile (more examples, derandomized); set HYPOTHESIS_PROFILE=dev
for quick loops.
The risk-gate property has its own example count per profile: `tests/support/profiles.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.daemon_proc import DaemonProcess
from tests.support.profiles import PROFILE

settings.register_profile("dev", max_examples=50, deadline=None)
# `ci` is derandomized: the same examples on every run, so a red CI is reproducible and a green
# one is not luck. `dev` keeps exploring new examples.
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(PROFILE)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _no_state_in_the_repo() -> Iterator[None]:
    """A test that ran a daemon with its state under the repo (`state/` beside config.toml)
    leaves a newcomer's `make run` refusing to start on a journal-less state: fail it."""
    before = (ROOT / "state").exists()
    yield
    assert before or not (ROOT / "state").exists(), "a test wrote state/ into the repo"


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """`daemons(config, env=None, nofile=None)` starts `tradingd run` on `config` (under a
    file-descriptor limit, with `nofile`). Every daemon a test
    started is killed when it ends, pass or fail, and each one's last log lines are printed
    (pytest shows them only for a failed test)."""
    started: list[DaemonProcess] = []

    def start(config: Path, env: dict[str, str] | None = None,
              nofile: int | None = None) -> DaemonProcess:
        d = DaemonProcess(config, env=env, nofile=nofile)
        started.append(d)
        return d

    yield start
    for n, d in enumerate(started):
        d.kill()
        d.find("")
        print(f"--- daemon {n}, exit {d.proc.returncode}:\n" + "".join(
            ln[:400] for ln in d.raw_lines[-40:] if "market_data" not in ln))
