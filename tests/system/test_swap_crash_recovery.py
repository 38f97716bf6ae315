"""Crash trials on swaps: the live daemon on the fake's BTCUSDT perpetual, SIGKILLed at seeded
moments and restarted, as `test_crash_recovery.py` does on spot.

The strategy flips long and short every few 1 s bars (the AR demo weights of
`tests.support.swap_venue`), so kills land in startup, in reconciliation, between an intent and its
request, and mid-fill; every third trial SIGKILLs while an order request is stalled at the
venue (placed and unanswered in the first chain, never processed in the second). After every
restart that reconciles, the position the daemon rebuilt equals the venue's `positionAmt`. At
the end: SIGTERM, exit 0, the venue flat with no open order, no client id posted twice, the
journal holds exactly the venue's trades of our orders, each once.
"""

from __future__ import annotations

import os
import random
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.swap_venue import SWAP, ar_swap, our_orders, venue_position
from tests.support.venue import JournalFile

pytestmark = pytest.mark.system
SEED = int(os.environ.get("CRASH_SEED", "20261206"))
TRIALS = 5
KILL_WINDOW_S = (1.0, 12.0)  # after the process starts: startup, reconciliation, trading
STALL_S = 3.0


def check_restart(d: DaemonProcess, fx: FakeBinanceThread) -> bool:
    rec = d.find("reconcile.complete")
    if rec is None:
        return False
    assert Decimal(rec["positions"][SWAP]) == venue_position(fx), rec
    return True


def run_until_killed(d: DaemonProcess, fx: FakeBinanceThread, kill_at: float,
                     in_flight: bool) -> tuple[bool, bool]:
    """Watch the run (checking its reconciliation once it happens) and SIGKILL it at
    `kill_at`, or, `in_flight`, once an order request is stalled at the venue. Return whether
    the restart was checked and whether the SIGKILL ended a live process."""
    checked = False
    while True:
        if d.proc.poll() is not None:
            raise AssertionError(f"daemon exited by itself ({d.wait_exit(10)}): "
                                 f"{d.stderr_tail()} {d.raw_lines[-5:]}")
        checked = checked or check_restart(d, fx)
        if in_flight:
            if fx.call(lambda f: len(f.faults.fired)):
                break
            if time.monotonic() > kill_at:
                raise AssertionError("no order request reached the venue in time")
        elif time.monotonic() >= kill_at:
            break
        time.sleep(0.01)
    d.kill()
    return checked, d.proc.returncode == -signal.SIGKILL


def venue_trade_ids(fx: FakeBinanceThread) -> list[str]:
    ours = {o["orderId"] for o in our_orders(fx)}
    return [str(t) for t in fx.call(lambda f: [fl.trade_id for fl in f.futures.fills
                                               if fl.order_id in ours])]


@pytest.mark.parametrize("chain", range(2))
def test_sigkill_on_swaps_rebuilds_the_venues_position(chain: int, tmp_path: Path) -> None:
    """Steps: TRIALS times start the live daemon on the perpetual and SIGKILL it at a seeded
    moment (every third while an order is stalled at the venue), checking each reconciled
    restart's position against the venue's positionAmt; then start it once more, check, let
    it trade, SIGTERM; the venue is flat, and the venue and the journal agree exactly."""
    rng = random.Random(SEED * 100 + chain)
    with FakeBinanceThread(seed=chain, tick_interval=0.05) as fx:
        cfg = exchange_config(tmp_path, fx.ccxt_config(futures=True),
                              strategy=ar_swap(tmp_path, scale="1"), symbol=SWAP,
                              exchange_id="binanceusdm", instrument="leverage = 2\n",
                              lookup_s="2", sections={"reconcile": "interval_s = 1"})
        env = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret}
        kills = checks = 0
        for trial in range(TRIALS):
            in_flight = trial % 3 == 2
            if in_flight:
                fx.call(lambda f: f.faults.delay("/fapi/v1/order", STALL_S, method="POST",
                                                 process=chain == 0))
            delay_s = 20.0 if in_flight else rng.uniform(*KILL_WINDOW_S)
            d = DaemonProcess(cfg, env=env)
            try:
                checked, killed = run_until_killed(d, fx, time.monotonic() + delay_s, in_flight)
            finally:
                d.kill()
                fx.call(lambda f: (f.faults.clear(), f.faults.fired.clear()))
            checks += checked
            kills += killed
            print(f"chain {chain} trial {trial}: killed after "
                  f"{'in-flight' if in_flight else f'{delay_s:.2f}s'}, position "
                  f"{venue_position(fx)}, {len(our_orders(fx))} orders")
        d = DaemonProcess(cfg, env=env)
        try:
            d.wait_for("reconcile.complete", 60)
            assert check_restart(d, fx)
            d.wait_for("order.submitted", 30)  # it trades again after all that
            d.send(signal.SIGTERM)
            code = d.wait_exit(60)
            if code:
                print("\n".join(ln[:400] for ln in d.raw_lines if "market_data" not in ln))
            assert code == 0, d.why()
        finally:
            d.kill()
        assert_venue_and_journal_agree(fx, JournalFile(tmp_path / "state"), d.last_record)
        assert kills == TRIALS, kills
        print(f"chain {chain}: {kills} SIGKILLs, {checks} restarts checked mid-chain")


def assert_venue_and_journal_agree(fx: FakeBinanceThread, journal: JournalFile,
                                   last: dict[str, Any]) -> None:
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    assert venue_position(fx) == 0
    assert not [o for o in our_orders(fx) if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    posts = fx.call(lambda f: dict(f.order_posts))
    assert posts and all(n == 1 for n in posts.values()), posts
    journal_ids = journal.trade_ids()
    assert len(journal_ids) == len(set(journal_ids))
    assert sorted(journal_ids) == sorted(venue_trade_ids(fx))
