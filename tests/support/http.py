"""HTTP from tests: the metrics endpoint and the control API, with timeouts, over loopback."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

TOKEN = "test-control-token-0123456789abcdef"
TOKEN_ENV = {"TRADINGD_CONTROL_TOKEN": TOKEN}


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def sample(text: str, name: str) -> float:
    """The value of one series, e.g. `tradingd_risk_denials_total{reason="halted"}`."""
    for line in text.splitlines():
        if line.startswith(name + " ") or (("{" not in name) and line.startswith(name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def metric(port: int, name: str) -> float:
    return sample(metrics_text(port), name)


def status_code(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def control(port: int, method: str, path: str, authorization: str | None = f"Bearer {TOKEN}"
            ) -> tuple[int, Any]:
    """One control API request; (status, decoded JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Authorization": authorization} if authorization is not None else {}
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()
