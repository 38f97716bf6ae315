"""daemon.sdnotify against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.ops import sdnotify


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A bound datagram socket in a tmp dir and the env that points at it."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_ready_with_status_is_received(receiver: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = receiver
    assert sdnotify.ready("trading BTC/USDT", env=env) is True
    assert recv(sock) == "READY=1\nSTATUS=trading BTC/USDT"


def test_each_helper_sends_its_key(receiver: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = receiver
    assert sdnotify.ready(env=env)
    assert recv(sock) == "READY=1"
    assert sdnotify.status("flattening", env=env)
    assert recv(sock) == "STATUS=flattening"
    assert sdnotify.watchdog(env=env)
    assert recv(sock) == "WATCHDOG=1"
    assert sdnotify.stopping(env=env)
    assert recv(sock) == "STOPPING=1"
    assert sdnotify.stopping("flattening 2 positions", env=env)
    assert recv(sock) == "STOPPING=1\nSTATUS=flattening 2 positions"
    assert sdnotify.extend_timeout(12.5, env=env)
    assert recv(sock) == "EXTEND_TIMEOUT_USEC=12500000"


def test_reloading_carries_current_monotonic_usec(
    receiver: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = receiver
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading(env=env)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = recv(sock).split("\n")
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_status_newlines_cannot_inject_assignments(
    receiver: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = receiver
    assert sdnotify.status("bad\nREADY=1", env=env)
    message = recv(sock)
    assert message == "STATUS=bad READY=1"
    assert "\n" not in message


def test_abstract_namespace_address() -> None:
    name = f"tradingd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert sdnotify.watchdog(env={"NOTIFY_SOCKET": "@" + name}) is True
        assert recv(sock) == "WATCHDOG=1"


def test_reads_process_environment_by_default(
    receiver: tuple[socket.socket, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, env = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    assert sdnotify.enabled()
    assert sdnotify.ready()
    assert recv(sock) == "READY=1"


def test_unset_socket_is_a_successful_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.enabled() is False
    assert sdnotify.ready("x") is True
    assert sdnotify.watchdog(env={"NOTIFY_SOCKET": ""}) is True


@pytest.mark.parametrize(
    "address",
    ["/nonexistent/dir/notify", "vsock:2:1234", "/tmp/with\0nul", "@"],
)
def test_send_failure_returns_false_without_raising(address: str) -> None:
    assert sdnotify.enabled(env={"NOTIFY_SOCKET": address})
    assert sdnotify.ready(env={"NOTIFY_SOCKET": address}) is False


def test_socket_that_is_not_listening_returns_false(tmp_path: Path) -> None:
    path = tmp_path / "gone"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.close()  # the file stays, nobody reads: ECONNREFUSED
    assert sdnotify.watchdog(env={"NOTIFY_SOCKET": str(path)}) is False


def test_full_queue_fails_fast_instead_of_blocking(
    receiver: tuple[socket.socket, dict[str, str]],
) -> None:
    # Nobody reads the receiver, so its queue (net.unix.max_dgram_qlen, 10
    # by default, or its buffer) fills up. A blocking send would hang here.
    _, env = receiver
    started = time.monotonic()
    results = [sdnotify.status("x" * 1024, env=env) for _ in range(2000)]
    assert results[0] is True
    assert False in results
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1000"}, 0.0005),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "abc"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_period(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval_s(env=env) == expected


def test_watchdog_interval_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval_s() == 10.0
