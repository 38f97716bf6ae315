"""A unix datagram socket standing in for systemd's $NOTIFY_SOCKET, read by the test.

Datagrams on a unix socket are queued by the time `sendto` returns, so anything the daemon
sent before it wrote a log line is readable once the test has seen that line: the log is a
clock for "had it been sent by then?".
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import TracebackType


class NotifyReceiver:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []  # every datagram, in arrival order
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)

    def env(self, watchdog_usec: int | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": str(self.path)}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def drain(self) -> list[str]:
        """The datagrams that arrived since the last drain (also appended to `messages`)."""
        new: list[str] = []
        while True:
            try:
                new.append(self._sock.recv(65536).decode())
            except BlockingIOError:
                self.messages += new
                return new

    def keys(self, messages: list[str] | None = None) -> list[str]:
        """`KEY=VALUE` assignments of each datagram, flattened, values cut off for STATUS."""
        out = []
        for m in self.messages if messages is None else messages:
            out += [line if not line.startswith("STATUS=") else "STATUS=" for line in
                    m.splitlines() if not line.startswith("MONOTONIC_USEC=")]
        return out

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> NotifyReceiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
