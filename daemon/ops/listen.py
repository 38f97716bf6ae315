"""Opening an HTTP listener, shared by the monitoring and control APIs: a bind failure named by
its config key. (The port actually bound, for a port 0, is the listening socket's own:
`ops.http_guard.serve` yields the server.)"""

from __future__ import annotations

import os
import socket

from daemon.config import ConfigError


def listen_error(key: str, where: str, err: OSError) -> ConfigError:
    """A listener that cannot bind is a configuration problem (78, no restart loop), named by
    its config key: `metrics.listen: cannot listen on 127.0.0.1:9464: address already in use`.
    """
    if isinstance(err, socket.gaierror) or not err.errno:
        reason = err.strerror or str(err)
    else:
        reason = os.strerror(err.errno)
    return ConfigError(f"{key}: cannot listen on {where}: {reason[:1].lower()}{reason[1:]}")


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
