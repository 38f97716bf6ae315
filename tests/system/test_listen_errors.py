"""A listener that cannot bind is a configuration error: one line on stderr and exit 78 (which
systemd does not restart), never a traceback and exit 1 (which means "not flat")."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.configs import BUY_ONCE, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
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


def test_a_busy_port_in_exchange_mode_closes_the_venue_clients(
        tmp_path: Path, busy_port: int, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: paper mode on the local exchange's data (the runtime has opened a ccxt client and
    loaded markets), metrics port taken: exit 78 with the one line, and the client was closed
    on the way out — ccxt and aiohttp would otherwise complain of unclosed sessions."""
    with FakeBinanceThread(seed=2) as fx:
        cfg = exchange_config(tmp_path, fx.ccxt_config(), mode="paper",
                              sections={"metrics": f'listen = "127.0.0.1:{busy_port}"'})
        d = daemons(cfg, env={})
        assert d.wait_exit(30) == 78
        assert d.proc.stderr is not None
        err = d.proc.stderr.read()
        assert err == (f"tradingd: config error: metrics.listen: cannot listen on "
                       f"127.0.0.1:{busy_port}: address already in use\n")
        out = "".join(d.raw_lines)
        assert "nclosed" not in out and "release all resources" not in out, out[-2000:]
        assert fx.call(lambda f: f.requests)  # it did reach the venue (markets) first
