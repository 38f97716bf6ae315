"""The floor for `bench/wire_latency.py`: a bare ccxt.pro client, no daemon.

`watch_trades` -> `create_order` (market, alternating buy and sell) on every new trade, against
the same fake exchange the daemon is measured on. What the daemon adds is measured against this.
Run by the bench as a subprocess: `python bench/wire_floor.py <http> <ws> <symbol> <qty>
[--rate-limit]` (ccxt's own throttler, `enableRateLimit`, off unless asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import ccxt.pro as ccxtpro

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_exchange import FAKE_API_KEY, FAKE_API_SECRET, ccxt_config  # noqa: E402


async def run(http: str, ws: str, symbol: str, qty: float, rate_limit: bool) -> None:
    ex = ccxtpro.binance({**ccxt_config(http, ws), "apiKey": FAKE_API_KEY,
                          "secret": FAKE_API_SECRET, "enableRateLimit": rate_limit})
    try:
        await ex.load_markets()
        side, seen = "buy", None
        while True:
            trades = await ex.watch_trades(symbol)
            last = trades[-1]["id"] if trades else None
            if last is None or last == seen:
                continue
            seen = last
            await ex.create_order(symbol, "market", side, qty)
            side = "sell" if side == "buy" else "buy"
    finally:
        await ex.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("http")
    parser.add_argument("ws")
    parser.add_argument("symbol")
    parser.add_argument("qty", type=float)
    parser.add_argument("--rate-limit", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.http, args.ws, args.symbol, args.qty, args.rate_limit))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
