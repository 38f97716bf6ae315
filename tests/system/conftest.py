"""System-test fixtures: daemons started by a test are killed when it ends, pass or fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.daemon_proc import DaemonProcess


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, env: dict[str, str] | None = None,
              nofile: int | None = None) -> DaemonProcess:
        d = DaemonProcess(config, env=env, nofile=nofile)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()
