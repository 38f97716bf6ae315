"""Run a throwaway Prometheus server on loopback for tests, and query it.

Owns: rendering a shipped config for a test (scrape target, intervals and
Alertmanager address rewritten; everything else as shipped), starting
``prometheus`` on a free 127.0.0.1 port with its own TSDB in a tmp dir,
polling with deadlines (never bare sleeps), and always killing the process.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.ops.tools import require_tool

T = TypeVar("T")
SHIPPED_TARGET = "127.0.0.1:9464"
SHIPPED_ALERTMANAGER = "127.0.0.1:9093"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(shipped: Path, dest_dir: Path, target: str | None) -> Path:
    """Copy a shipped config (and its rule file) for a test run.

    Rewritten: the scrape target (if ``target``), 15s intervals -> 1s so the
    test takes seconds (and the 5s scrape timeout, which may not exceed the
    interval, with them), and the Alertmanager address -> a closed port so test
    alerts can never reach a real Alertmanager on this machine.
    """
    text = shipped.read_text()
    needles = ("scrape_interval: 15s", "evaluation_interval: 15s", "scrape_timeout: 5s")
    for needle in (*needles, SHIPPED_ALERTMANAGER):
        assert needle in text, f"{shipped.name} no longer contains {needle!r}"
    if target is not None:
        assert SHIPPED_TARGET in text
        text = text.replace(SHIPPED_TARGET, target)
    text = text.replace("scrape_interval: 15s", "scrape_interval: 1s")
    text = text.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
    text = text.replace("scrape_timeout: 5s", "scrape_timeout: 1s")
    text = text.replace(SHIPPED_ALERTMANAGER, f"127.0.0.1:{free_port()}")
    shutil.copy(shipped.parent / "alerts.yml", dest_dir / "alerts.yml")
    rendered = dest_dir / shipped.name
    rendered.write_text(text)
    return rendered


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns a non-None value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last_error, value = exc, None
        if value is not None:
            return value
        time.sleep(0.2)  # poll interval, bounded by the deadline above
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


class Prometheus:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", query=promql)
        if body.get("status") != "success":
            raise AssertionError(f"query failed: {promql}: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def run_prometheus(config: Path, workdir: Path, attempts: int = 3) -> Iterator[Prometheus]:
    """Start prometheus on a free loopback port; it is killed on exit, always."""
    binary = require_tool("prometheus")
    for attempt in range(attempts):
        port = free_port()
        log = workdir / f"prometheus-{attempt}.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--storage.tsdb.path={workdir / f'tsdb-{attempt}'}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = Prometheus(f"http://127.0.0.1:{port}", process, log)
        try:
            ready = _wait_ready(server)
            if ready:
                yield server
                return
            if "address already in use" not in server.log_tail():
                break  # a real error (bad config...): retrying cannot help
            # lost a race for the port with another process: try another
        finally:
            _stop(process)
    raise AssertionError(f"prometheus did not start:\n{server.log_tail()}")


def _wait_ready(server: Prometheus, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{server.base_url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"prometheus not ready after {timeout}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
