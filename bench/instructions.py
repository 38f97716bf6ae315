"""`make bench-ir`: instructions per tick of the AR workload, counted by valgrind — a figure the
noise of a shared machine does not move, for comparing two versions of the order path.

The workload (`bench/ar_replay.py`) runs twice under `valgrind --tool=cachegrind
--cache-sim=no`, at two tick counts; the difference of the two instruction counts over the
difference of the ticks is the cost of one tick, with startup (imports, torch, the build of the
daemon) cancelled out. `PYTHONHASHSEED=0` keeps the runs alike. Each run takes a few minutes
(valgrind runs the process ~50x slower); run it on both versions (a worktree each, its own
accel build: `TRADINGD_ACCEL_DIR`) and compare the `instructions_per_tick` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def instructions(ticks: int, extra: list[str]) -> tuple[int, dict[str, object]]:
    """The process's instruction count and the bench's JSON line."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, str(HERE / "ar_replay.py"), "--ticks", str(ticks), *extra],
        env=env, check=True, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no instruction count:\n" + done.stderr[-2000:])
    return int(found.group(1).replace(",", "")), json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--low", type=int, default=100_000)
    parser.add_argument("--high", type=int, default=300_000)
    args, extra = parser.parse_known_args(argv)
    if shutil.which("valgrind") is None:
        print("bench-ir needs valgrind (apt install valgrind)", file=sys.stderr)
        return 2
    low, first = instructions(args.low, extra)
    high, second = instructions(args.high, extra)
    print(json.dumps({
        "bench": "instructions", "ticks": [args.low, args.high],
        "instructions": [low, high],
        "instructions_per_tick": round((high - low) / (args.high - args.low)),
        "order_path": second.get("order_path"),
        "fills_digest": [first.get("fills_digest"), second.get("fills_digest")],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
