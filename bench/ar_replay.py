"""The AR replay benchmark: the reference workload through the daemon's real code path.

`python bench/ar_replay.py --ticks N` generates the workload (`bench/workload.py`), then runs the
daemon exactly as `tradingd run` wires it — the same TaskGroup tasks, risk gate, inventory
manager, paper broker and metrics — except that the market data source is a `ReplaySource` and
the clock a `ReplayClock`, which is also what `tradingd replay` uses. It prints one JSON line.

What is measured: `seconds` is the wall time of `Daemon.run()` (start, trading, flatten, exit),
`ticks_per_s` is ticks / seconds; `cpu_seconds` is the process's CPU time over the same span
(steadier than wall time on a shared machine). Order latency is the daemon's own bar-to-order
measurement (bar closed -> order handed to the broker), read sample by sample through a tap on
the histogram. `peak_rss_mb` is the process's high-water mark. A run of more than a million ticks
(the soak) generates ticks lazily, as the replay takes them, and samples RSS every million ticks;
up to a million, the ticks are generated before the clock starts, like a loaded file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: `python bench/ar_replay.py`
    sys.path.insert(0, str(ROOT))

from bench.workload import ou_chunks  # noqa: E402
from daemon import accel, wiring  # noqa: E402
from daemon.app import Daemon  # noqa: E402
from daemon.clock import ReplayClock  # noqa: E402
from daemon.config_paper import FillModel  # noqa: E402
from daemon.model import Fill, TradingState  # noqa: E402
from daemon.ops import log  # noqa: E402
from daemon.venues.replay import DEFAULT_BATCH_TICKS, ReplaySource  # noqa: E402

CONFIG = Path(__file__).with_name("ar_replay.toml")
MILLION = 1_000_000


def percentile_us(samples: Sequence[float], q: float) -> float | None:
    """The `q` quantile of the bar-to-order latencies kept, in microseconds (exact, where the
    histogram's buckets would only bound it)."""
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)


class FillDigest:
    """A tap on the books that hashes every fill booked: two runs with the same input must print
    the same digest. Constant memory, so the soak can use it too."""

    def __init__(self, inventory: Any) -> None:
        self._hash = hashlib.sha256()
        self._encode = msgspec.json.Encoder(decimal_format="string").encode
        inventory.tap_fills(self)

    def __call__(self, fill: Fill) -> None:
        # The client order id embeds the run's start time; everything else must match exactly.
        self._hash.update(self._encode((fill.trade_id, fill.side, fill.qty, fill.price,
                                        fill.fee_quote, fill.ts_ns)))

    def hexdigest(self) -> str:
        return self._hash.hexdigest()[:16]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * resource.getpagesize() / 2**20, 1)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build(ticks: int, batch_ticks: int, config: Path, state_dir: str,
          log_level: str, fill_model: str | None = None) -> tuple[Daemon, ReplaySource,
                                                                 list[float]]:
    cfg, strategy = wiring.load(config)
    cfg = msgspec.structs.replace(
        cfg, daemon=msgspec.structs.replace(cfg.daemon, state_dir=state_dir))
    if fill_model is not None:
        cfg = msgspec.structs.replace(cfg, paper=msgspec.structs.replace(
            cfg.paper, fill_model=FillModel(fill_model)))
    log.configure(log_level, stream=sys.stderr)
    chunks: Any = ou_chunks(ticks)
    if ticks <= MILLION:
        chunks = list(chunks)  # generated before the clock starts, like a loaded file
    rss: list[float] = []

    def sample(done: int) -> None:
        if done >= (len(rss) + 1) * MILLION:
            rss.append(rss_mb())

    clock = ReplayClock()
    source = ReplaySource(cfg.market.instruments[0].symbol, chunks, clock, batch_ticks, sample)
    # The replay's wiring: the paper account on this source, an in-memory journal.
    venue = wiring.paper_venue(cfg, strategy, clock, source)
    return Daemon(wiring.build(cfg, strategy, venue)), source, rss


def run(ticks: int, batch_ticks: int, config: Path, log_level: str,
        fills_digest: bool, fill_model: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tradingd-bench-") as state_dir:
        daemon, source, rss = build(ticks, batch_ticks, config, state_dir, log_level,
                                    fill_model)
        latency = daemon.metrics.bar_to_order.keep_samples()
        digest = FillDigest(daemon.inventory) if fills_digest else None
        started, cpu_started = time.perf_counter(), time.process_time()
        with asyncio.Runner(loop_factory=_uvloop()) as runner:
            code = runner.run(daemon.run())
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    inv = daemon.inventory
    submitted = daemon.metrics.registry.get_sample_value(
        "tradingd_orders_total", {"outcome": "submitted"})
    out: dict[str, Any] = {
        "bench": "ar_replay", "fill_model": daemon.config.paper.fill_model.value,
        "ticks": source.ticks_done, "bars": daemon.signals.bars_closed,
        "orders": int(submitted or 0), "fills": inv.fill_count, "seconds": round(seconds, 3),
        "ticks_per_s": round(source.ticks_done / seconds),
        "order_latency_p50_us": percentile_us(latency, 0.50),
        "order_latency_p99_us": percentile_us(latency, 0.99),
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": round(cpu_seconds, 3), "batch_ticks": batch_ticks, "exit_code": code,
        "order_path": accel.status,
        "flat": inv.is_flat(),
        # A breaker trip stops the trading the run is meant to measure: the run fails.
        "halted": daemon.gate.state is TradingState.HALTED,
        "realized_pnl": str(inv.realized_pnl), "fees": str(inv.fees),
    }
    if digest is not None:
        out["fills_digest"] = digest.hexdigest()
    if ticks > MILLION:
        out["rss_mb_by_million"] = rss
        if len(rss) >= 10:
            out["rss_growth_2m_to_10m_pct"] = round((rss[9] / rss[1] - 1) * 100, 2)
    return out


def _uvloop() -> Any:
    import uvloop

    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=MILLION)
    parser.add_argument("--batch-ticks", type=int, default=DEFAULT_BATCH_TICKS)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--log-level", default="warning",
                        help="daemon log level (logs go to stderr); info logs every order")
    parser.add_argument("--fills-digest", action="store_true",
                        help="hash every fill booked (costs ~3%%): equal digests, equal fills")
    parser.add_argument("--fill-model", choices=[m.value for m in FillModel],
                        help="override [paper] fill_model (the config's: touch)")
    args = parser.parse_args(argv)
    result = run(args.ticks, args.batch_ticks, args.config, args.log_level, args.fills_digest,
                 args.fill_model)
    print(json.dumps(result), flush=True)
    return 0 if result["exit_code"] == 0 and result["flat"] and not result["halted"] else 1


if __name__ == "__main__":
    sys.exit(main())
