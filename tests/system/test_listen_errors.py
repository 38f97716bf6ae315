"""A listener that cannot bind is a configuration error: one line on stderr and exit 78 (which
systemd does not restart), never a traceback and exit 1 (which means "not flat")."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.configs import BUY_ONCE, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.http import TOKEN_ENV

pytestmark = pytest.mark.system


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another process is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("section", "body", "expected"), [
    ("metrics", 'listen = "127.0.0.1:{port}"',
     "tradingd: config error: metrics.listen: cannot listen on 127.0.0.1:{port}: "
     "address already in use"),
    ("control", 'enabled = true\nlisten = "127.0.0.1:{port}"',
     "tradingd: config error: control.listen: cannot listen on 127.0.0.1:{port}: "
     "address already in use"),
])
def test_a_busy_listen_address_exits_78_with_one_line(
        tmp_path: Path, busy_port: int, daemons: Callable[..., DaemonProcess], section: str,
        body: str, expected: str) -> None:
    """Steps: the configured port is taken; the daemon exits 78 before it starts trading,
    saying which key and why in one stderr line."""
    cfg = fast_config(tmp_path, BUY_ONCE, extra={section: body.format(port=busy_port)})
    d = daemons(cfg, env=TOKEN_ENV)
    assert d.wait_exit(30) == 78
    assert d.proc.stderr is not None
    assert d.proc.stderr.read() == expected.format(port=busy_port) + "\n"
    assert d.find("daemon.started") is None and d.find("order.submitted") is None
