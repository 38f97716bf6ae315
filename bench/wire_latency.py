"""`make bench-live`: trade on the wire -> order on the wire, the daemon live against the local
fake Binance over loopback, through unmodified ccxt; and in the same run the floor, a bare
ccxt.pro client doing `watch_trades` -> `create_order` on the same fake.

The fake runs in this process (its own thread and loop) and stamps with `time.perf_counter_ns`
(CLOCK_MONOTONIC, one clock for every process on the host) when it wrote a trade's frame to the
websocket and when each order request arrived and was answered (`tests/fake_exchange/stamps.py`).
Each sample publishes one trade at the start of a bar and waits for the orders it causes; the
daemon runs `bench/latency_probe.py`, which answers each bar's first trade with two market
orders (the legs of a flip). Figures are microseconds; the floor is measured first, in the same
run, so the ratio holds on a noisy machine. One JSON line at the end; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_exchange import FAKE_API_KEY, FAKE_API_SECRET, FakeBinanceThread  # noqa: E402
from tests.fake_exchange.stamps import WireStamps  # noqa: E402
from tests.support.exchange_config import exchange_config  # noqa: E402

SYMBOL, VENUE_SYMBOL, STREAM = "BTC/USDT", "BTCUSDT", "btcusdt@trade"
QTY = "0.001"
BAR_MS = 250  # two orders a bar: 80 in 10 s, inside Binance's 100 (our budget enforces it)
RISK = """max_order_notional = "20000"
max_position_notional = "25000"
max_gross_exposure = "50000"
max_leverage = "3"
price_collar_bps = 500
max_orders_per_second = 50
max_orders_per_minute = 3000
stale_data_s = 5
initial_state = "active"
max_daily_loss = "100000"
max_drawdown_pct = 90
max_rejections_per_minute = 10"""


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


class Phase:
    """One client (the floor or the daemon) answering trades; `legs` orders per trade."""

    def __init__(self, fxt: FakeBinanceThread, stamps: WireStamps, legs: int) -> None:
        self.fxt, self.stamps, self.legs = fxt, stamps, legs
        self.first: list[float] = []
        self.second: list[float] = []
        self.ack: list[float] = []
        self.missed = 0

    def sample(self) -> None:
        # The trade opens a bar: publish it just after a bar boundary of the fake's clock.
        now_ms = time.time_ns() / 1e6
        time.sleep(((now_ms // BAR_MS + 1) * BAR_MS + 5 - now_ms) / 1000)
        stamps = self.stamps
        self.fxt.call(lambda fx: stamps.clear())
        self.fxt.call(lambda fx: fx.step(1, VENUE_SYMBOL))
        deadline = time.monotonic() + 0.08
        while time.monotonic() < deadline and (len(stamps.orders_out) < self.legs
                                               or not stamps.trades):
            time.sleep(0.0005)
        ins, outs = list(stamps.orders_in), list(stamps.orders_out)
        if not stamps.trades or len(ins) < self.legs or not outs:
            self.missed += 1
            return
        t0 = stamps.trades[0]
        self.first.append((ins[0] - t0) / 1000)
        self.ack.append((outs[0] - t0) / 1000)
        if self.legs > 1:
            self.second.append((ins[1] - t0) / 1000)

    def run(self, samples: int, warmup: int = 5) -> None:
        for i in range(warmup + samples):
            if i == warmup:
                self.first.clear(), self.second.clear(), self.ack.clear()
                self.missed = 0
            self.sample()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def floor_phase(fxt: FakeBinanceThread, stamps: WireStamps, samples: int,
                rate_limit: bool) -> Phase:
    cmd = [sys.executable, str(ROOT / "bench" / "wire_floor.py"), fxt.http_base, fxt.ws_base,
           SYMBOL, QTY] + (["--rate-limit"] if rate_limit else [])
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        wait(lambda: fxt.call(lambda fx: fx.subscribers(STREAM)) > 0, 30, "floor subscribed")
        phase = Phase(fxt, stamps, legs=1)
        phase.run(samples)
        return phase
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        wait(lambda: fxt.call(lambda fx: fx.subscribers(STREAM)) == 0, 10, "floor gone")


def daemon_phase(fxt: FakeBinanceThread, stamps: WireStamps, samples: int, tmp: Path,
                 order_entry: str) -> Phase:
    strategy = ("bench.latency_probe:LatencyProbe",
                f'symbol = "{SYMBOL}"\nqty = "{QTY}"\nbar_interval_ms = {BAR_MS}')
    run_dir = tmp / order_entry
    run_dir.mkdir()
    extra = f'order_entry = "{order_entry}"\n' if order_entry != "rest" else ""
    cfg = exchange_config(run_dir, fxt.ccxt_config(), strategy=strategy, capital="50000",
                          extra_exchange=extra, sections={"risk": RISK})
    # No REST fallback while the bench is between samples: trades come when it sends them.
    cfg.write_text(cfg.read_text().replace("ws_silence_s = 3", "ws_silence_s = 3600"))
    env = {**os.environ, "TRADINGD_API_KEY": FAKE_API_KEY, "TRADINGD_API_SECRET": FAKE_API_SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "run", "--config", str(cfg)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        def subscribed() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({proc.returncode}) before trading")
            return fxt.call(lambda fx: fx.subscribers(STREAM) > 0 and fx.user_subscribers() > 0)
        wait(subscribed, 60, "daemon subscribed")
        phase = Phase(fxt, stamps, legs=2)
        phase.run(samples)
        return phase
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        wait(lambda: fxt.call(lambda fx: fx.subscribers(STREAM)) == 0, 10, "daemon gone")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--ws", action="store_true", help="also the daemon with ws order entry")
    args = parser.parse_args(argv)
    with FakeBinanceThread(seed=7, print_fills=False) as fxt, \
            tempfile.TemporaryDirectory(prefix="tradingd-wire-") as tmp:
        stamps = WireStamps()
        fxt.call(lambda fx: setattr(fx, "stamps", stamps))
        log("floor (bare ccxt.pro, no throttler) ...")
        floor = floor_phase(fxt, stamps, args.samples, rate_limit=False)
        log("floor with ccxt's throttler ...")
        floor_rl = floor_phase(fxt, stamps, max(20, args.samples // 5), rate_limit=True)
        log("daemon, REST order entry ...")
        rest = daemon_phase(fxt, stamps, args.samples, Path(tmp), "rest")
        ws = daemon_phase(fxt, stamps, args.samples, Path(tmp), "websocket") if args.ws \
            else None
    result: dict[str, Any] = {
        "bench": "wire_latency", "samples": len(rest.first), "missed": rest.missed,
        "first_order_p50_us": pct(rest.first, 0.5), "first_order_p90_us": pct(rest.first, 0.9),
        "first_order_max_us": max(rest.first, default=float("nan")),
        "second_order_p50_us": pct(rest.second, 0.5), "ack_p50_us": pct(rest.ack, 0.5),
        "floor_p50_us": pct(floor.first, 0.5), "floor_p90_us": pct(floor.first, 0.9),
        "floor_throttled_p50_us": pct(floor_rl.first, 0.5),
        "ws_first_order_p50_us": pct(ws.first, 0.5) if ws else None,
    }
    result["first_order_vs_floor_p50"] = round(result["first_order_p50_us"]
                                               / result["floor_p50_us"], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
