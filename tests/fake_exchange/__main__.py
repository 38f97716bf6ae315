"""`python -m tests.fake_exchange --port N --seed S`: run the fake standalone.

Prints one JSON line (bases, test credentials, ccxt config) on stdout once it is listening,
then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from .server import FakeBinance


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fake_exchange", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay", nargs="?", const=True, default=False,
                   help="drive BTCUSDT from a capture (default: the bundled slice)")
    p.add_argument("--replay-speed", type=float, default=None,
                   help="replay in the background at this multiple of real time")
    p.add_argument("--tick-interval", type=float, default=None,
                   help="step the random walk every this many seconds")
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    fx = FakeBinance(args.seed, host=args.host, port=args.port, replay=args.replay,
                     replay_speed=args.replay_speed, tick_interval=args.tick_interval)
    await fx.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"http_base": fx.http_base, "ws_base": fx.ws_base,
                      "api_key": fx.api_key, "api_secret": fx.api_secret,
                      "ccxt_config": fx.ccxt_config()}), flush=True)
    try:
        await stop.wait()
    finally:
        await fx.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1:]))
