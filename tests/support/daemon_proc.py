"""Run `python -m daemon` as a subprocess and read its JSON log as it is written."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.wait import eventually

ROOT = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(self, config_path: Path, command: str = "run",
                 env: dict[str, str] | None = None, nofile: int | None = None) -> None:
        """`nofile`: run under this file-descriptor limit (soft and hard), as a unit's
        `LimitNOFILE=` would set it."""
        self.records: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        # faulthandler: a daemon that will not exit is dumped (every thread's stack) first.
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",
                    **(env or {})}
        # prlimit sets the limit and execs the daemon: the same pid, signals reach it.
        limit = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] if nofile else []
        self.proc = subprocess.Popen(
            [*limit, sys.executable, "-m", "daemon", command, "--config", str(config_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _drain(self) -> None:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                continue
            self.raw_lines.append(line)
            try:
                self.records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise AssertionError(f"log line is not JSON: {line!r}") from err

    def why(self) -> str:
        """For a failed assertion: every warning, error and shutdown line, then the last few,
        one per line (a string, so pytest prints it whole rather than a truncated list)."""
        self._drain()
        telling = [line for line, rec in zip(self.raw_lines, self.records, strict=False)
                   if rec.get("level") in ("warning", "error", "critical")
                   or str(rec.get("event", "")).startswith(("shutdown", "flatten", "daemon."))]
        lines = [*telling[-40:], "...\n", *self.raw_lines[-10:], self.stderr_tail()]
        return "".join(lines)

    def find(self, event: str, **fields: Any) -> dict[str, Any] | None:
        self._drain()
        for rec in self.records:
            if rec.get("event") == event and all(rec.get(k) == v for k, v in fields.items()):
                return rec
        return None

    def wait_for(self, event: str, timeout_s: float, **fields: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            if self.proc.poll() is not None and not self.find(event, **fields):
                self._drain()
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before {event}: "
                                     f"{self.stderr_tail()}")
            return self.find(event, **fields)
        return eventually(found, timeout_s, what=f"log event {event} {fields}")

    def wait_for_match(self, timeout_s: float, predicate: Any, what: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            self._drain()
            for rec in self.records:
                if predicate(rec):
                    return rec
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited before {what}: {self.stderr_tail()}")
            return None
        return eventually(found, timeout_s, what=what)

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired as err:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler prints the stacks, then dies
            stacks = "(no stack dump)"
            try:
                self.proc.wait(10)
                if self.proc.stderr is not None:
                    stacks = self.proc.stderr.read()
            except subprocess.TimeoutExpired:
                pass
            self._drain()
            self.kill()
            raise AssertionError(f"daemon did not exit in time; last log lines: "
                                 f"{self.raw_lines[-15:]}\nstacks:\n{stacks[-6000:]}") from err
        self._reader.join(5)
        self._drain()
        return code

    def stderr_tail(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    @property
    def last_record(self) -> dict[str, Any]:
        self._drain()
        return self.records[-1]


def wait_until(deadline_s: float) -> float:
    return time.monotonic() + deadline_s
