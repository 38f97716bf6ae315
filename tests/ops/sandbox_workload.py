"""What tradingd does at the syscall level, run by test_sandbox.py under the unit's filters.

Stand-in for the real daemon until it exists: import the heavy dependencies,
run the torch layers strategies are likely to use, serve /metrics on a
loopback TCP port with aiohttp and fetch it, resolve a name, and send an
sd_notify datagram. Prints one ``ok <step>`` line per step and ``ALL OK``.

First it proves the filter is really loaded (a sched_setaffinity call, in
@resources, must be refused with EPERM), so a broken emulation cannot pass.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile

try:
    os.sched_setaffinity(0, os.sched_getaffinity(0))
except PermissionError:
    print("ok filter-active")
else:
    sys.exit("seccomp filter is not active: sched_setaffinity succeeded")

try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
except OSError as exc:
    print(f"ok af-packet-refused errno={exc.errno}")
else:
    sys.exit("RestrictAddressFamilies not active: AF_PACKET socket created")

import aiohttp
import torch
import uvloop
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from daemon.ops import sdnotify

torch.manual_seed(0)
layers: dict[str, tuple[torch.nn.Module, torch.Tensor]] = {
    "linear": (torch.nn.Linear(32, 8), torch.randn(16, 32)),
    "conv1d": (torch.nn.Conv1d(8, 16, 5), torch.randn(4, 8, 128)),
    "lstm": (torch.nn.LSTM(8, 16, batch_first=True), torch.randn(4, 30, 8)),
    "gru": (torch.nn.GRU(8, 16, batch_first=True), torch.randn(4, 30, 8)),
}
with torch.inference_mode():
    for name, (layer, sample) in layers.items():
        layer(sample)
        print(f"ok torch-{name}")

registry = CollectorRegistry()
Gauge("tradingd_equity", "Equity in quote currency.", registry=registry).set(1000.0)


async def serve_and_scrape() -> None:
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry))

    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://localhost:{port}/metrics") as resp:
                body = await resp.text()
        assert resp.status == 200 and "tradingd_equity 1000.0" in body, body
        print("ok http-loopback")
        infos = await asyncio.get_running_loop().getaddrinfo("localhost", 443)
        assert infos
        print("ok getaddrinfo")
        await asyncio.to_thread(lambda: layers["conv1d"][0](layers["conv1d"][1]))
        print("ok torch-in-thread")
    finally:
        await runner.cleanup()


uvloop.run(serve_and_scrape())

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        assert sdnotify.ready("sandbox", env={"NOTIFY_SOCKET": path})
        assert receiver.recv(256) == b"READY=1\nSTATUS=sandbox"
        print("ok sd-notify")

print("ALL OK")
