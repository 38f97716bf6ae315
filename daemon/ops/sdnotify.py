"""systemd service notification (sd_notify) for tradingd, stdlib only.

Owns the daemon's side of the ``Type=notify`` contract with systemd:

* ``ready()``     -> ``READY=1``       once the daemon can trade (the unit is "started")
* ``status()``    -> ``STATUS=...``    one free-text line shown by ``systemctl status``
* ``watchdog()``  -> ``WATCHDOG=1``    keep-alive; ping every ``watchdog_interval_s()``
* ``reloading()`` -> ``RELOADING=1``   on SIGHUP; send ``ready()`` again when done
* ``stopping()``  -> ``STOPPING=1``    on SIGTERM, before flattening
* ``extend_timeout()`` -> ``EXTEND_TIMEOUT_USEC=`` if flattening needs longer

The protocol is a datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX``
``SOCK_DGRAM`` socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract
namespace name written with a leading ``@``). It is implemented here directly
instead of depending on a binding, because it is a dozen lines.

Failure policy: notification is advisory, never a reason to crash a daemon
that holds positions. No function here raises on a send error. Each returns
``True`` when the message was delivered *or* when there is nobody to deliver
it to (``$NOTIFY_SOCKET`` unset: not run by systemd, nothing is expected), and
``False`` only when systemd asked to be told and the send failed. So a
``False`` is worth a log line; use ``enabled()`` to tell the two ``True``
cases apart.

Sends are non-blocking: if systemd's queue is full the send fails fast
(``False``) rather than stalling the asyncio event loop.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

__all__ = [
    "enabled",
    "extend_timeout",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog",
    "watchdog_interval_s",
]


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _address(env: Mapping[str, str] | None) -> str | None:
    """The socket address to send to, or None if notification is off.

    ``@name`` is the abstract namespace: the kernel wants a leading NUL byte.
    Other schemes (e.g. ``vsock:`` from newer systemd for VMs) are not
    supported and count as a send failure rather than as "off".
    """
    raw = _env(env).get("NOTIFY_SOCKET", "")
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    return raw


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """True if a service manager asked for notifications (``$NOTIFY_SOCKET`` set)."""
    return _address(env) is not None


def _one_line(text: str) -> str:
    # A newline inside a value would start a new KEY=VALUE assignment that the
    # caller did not intend (e.g. a status text forging "READY=1").
    return " ".join(text.splitlines())


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one raw notification datagram (``"KEY=VALUE\\n..."``).

    Returns True if sent or if notification is off; False on any failure.
    Never raises for socket/OS errors.
    """
    address = _address(env)
    if address is None:
        return True
    if not (address.startswith("/") or address.startswith("\0")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            data = message.encode("utf-8")
            sent = sock.sendto(data, address)
            return sent == len(data)
    except (OSError, ValueError, UnicodeError):
        # OSError: missing socket, EAGAIN on a full queue, EPERM from a
        # seccomp/AF filter; ValueError: embedded NUL in a path address.
        return False


def ready(status_text: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd start-up (or a reload) is finished: ``READY=1``."""
    message = "READY=1"
    if status_text:
        message += "\nSTATUS=" + _one_line(status_text)
    return notify(message, env)


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """Set the one-line status shown by ``systemctl status``."""
    return notify("STATUS=" + _one_line(text), env)


def watchdog(env: Mapping[str, str] | None = None) -> bool:
    """Keep-alive ping: ``WATCHDOG=1``. Send it from the event loop itself,
    so a wedged loop stops pinging and systemd restarts the daemon."""
    return notify("WATCHDOG=1", env)


def reloading(env: Mapping[str, str] | None = None) -> bool:
    """Announce a configuration reload (``RELOADING=1``).

    ``MONOTONIC_USEC`` (CLOCK_MONOTONIC, microseconds) is included because
    systemd >= 253 uses it to tell this reload apart from an earlier one with
    ``Type=notify-reload``; older versions ignore it. Call ``ready()`` when the
    reload is complete, otherwise systemd considers the reload still running.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={usec}", env)


def stopping(status_text: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Announce that shutdown (flattening) has begun: ``STOPPING=1``."""
    message = "STOPPING=1"
    if status_text:
        message += "\nSTATUS=" + _one_line(status_text)
    return notify(message, env)


def extend_timeout(seconds: float, env: Mapping[str, str] | None = None) -> bool:
    """Ask systemd for ``seconds`` more before its start/stop timeout fires.

    Useful while flattening takes longer than expected; it only ever extends,
    and the daemon's own ``shutdown.flatten_timeout_s`` still applies.
    """
    usec = max(0, int(seconds * 1_000_000))
    return notify(f"EXTEND_TIMEOUT_USEC={usec}", env)


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """How often to call ``watchdog()``, in seconds, or None if no watchdog.

    systemd sets ``$WATCHDOG_USEC`` to the ``WatchdogSec=`` period. Pinging at
    half the period (as sd_watchdog_enabled(3) recommends) leaves a full half
    period of slack for a slow iteration. ``$WATCHDOG_PID``, when present,
    names the process the watchdog is meant for; a child process that
    inherited the environment must not ping on the parent's behalf.
    """
    values = _env(env)
    raw_usec = values.get("WATCHDOG_USEC", "")
    try:
        usec = int(raw_usec)
    except ValueError:
        return None
    if usec <= 0:
        return None
    raw_pid = values.get("WATCHDOG_PID", "")
    if raw_pid:
        try:
            pid = int(raw_pid)
        except ValueError:
            return None
        if pid != os.getpid():
            return None
    return usec / 2 / 1_000_000
