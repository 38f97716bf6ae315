"""Crash trials: the live daemon SIGKILLed at seeded random moments, restarted, again and again.

A chain is one fake exchange and one state dir. The daemon (Alternate: a market order every 1 s
bar; from the third chain TwoLegs: two orders a bar, sent side by side) is started and SIGKILLed
TRIALS_PER_CHAIN times, then stopped with SIGTERM. Kill moments are seeded: uniform over the
first seconds after the process starts (so some land in startup and reconciliation, some between
an intent and its request, some mid-fill), and every third trial while an order request is
stalled at the venue (between "order sent" and "ack received"): in even chains the venue has
placed the order and holds back the answer, in odd chains it holds the request unprocessed, so
the order never exists. The fifth trial of a chain sends SIGTERM while trading and SIGKILLs a
seeded fraction of a second later, mid-flatten.

After every restart that reaches `reconcile.complete`, the position the daemon rebuilt equals
the position the exchange's trades of all earlier runs' orders add up to. At the end of a chain:
no client id was posted twice, the journal holds exactly the exchange's trades of our orders
(each once), no trade was booked twice in any run's log, every order on the exchange is in the
journal, nothing is left open, and the account is back to its start plus the reported dust.

CRASH_TRIALS is how many SIGKILLs must land on a live daemon: a kill counts only when the
process died of it (the mid-flatten trial may end in a clean stop first and does not count).
`make test` runs CRASH_TRIALS=20: 4 chains of 6 trials, at least 5 real kills each, checked per
chain and in total; `make soak-crash TRIALS=200` runs more. The kill moments come from
CRASH_SEED (printed on failure), and the assertions hold for any moment.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.venue import (
    JournalFile,
    our_orders,
    our_trades,
    venue_base,
    venue_position,
)

pytestmark = pytest.mark.system
ALTERNATE = ("tests.support.strategies:Alternate", 'symbol = "BTC/USDT"\nqty = "0.01"')
# Chains from the third on trade two orders a decision, sent side by side (the router's
# concurrent path): each still journaled before its request, each placed at most once.
TWO_LEGS = ("tests.support.strategies:TwoLegs", 'symbol = "BTC/USDT"\nqty = "0.01"')
MIN_KILLS = int(os.environ.get("CRASH_TRIALS", "20"))  # SIGKILLs that must hit a live daemon
TRIALS_PER_CHAIN = 6
MID_FLATTEN_TRIALS = frozenset({4})  # SIGTERM first: the flatten may beat the SIGKILL
KILLS_PER_CHAIN = TRIALS_PER_CHAIN - len(MID_FLATTEN_TRIALS)  # the kills a chain guarantees
CHAINS = max(1, -(-MIN_KILLS // KILLS_PER_CHAIN))
KILLED: dict[int, int] = {}  # chain -> SIGKILLs that killed a live daemon
SEED = int(os.environ.get("CRASH_SEED", "20261121"))
# After the process starts: imports and startup take about 2.5 s, reconciliation ends near
# 2.8 s and Alternate sends an order a second from then, so about a third of the kills land in
# startup or reconciliation and the rest among the orders of the first seconds of trading.
KILL_WINDOW_S = (0.5, 7.0)
TRADING_WINDOW_S = (3.5, 7.0)  # SIGTERM among the orders, then SIGKILL mid-flatten
STALL_S = 3.0  # the venue holds an order's response this long in the in-flight trials


def check_restart(d: DaemonProcess, fx: FakeBinanceThread) -> dict[str, Any] | None:
    """Once the run has reconciled: its books equal the exchange's record of earlier runs."""
    rec = d.find("reconcile.complete")
    if rec is None:
        return None
    earlier = venue_position(our_trades(fx, exclude_prefix=rec["run"]))
    assert Decimal(rec["positions"]["BTC/USDT"]) == earlier, (rec, earlier)
    return rec


def run_until_killed(d: DaemonProcess, fx: FakeBinanceThread, kill_at: float,
                     in_flight: bool = False, term_s: float | None = None) -> tuple[bool, bool]:
    """Watch the run, checking its reconciliation, and SIGKILL it at `kill_at` (monotonic) —
    or, `in_flight`, as soon as an order request is stalled at the venue; with `term_s`, send
    SIGTERM at `kill_at` and SIGKILL that much later, mid-flatten. Return whether the run's
    reconciliation was checked, and whether the SIGKILL is what ended the process."""
    checked = False
    termed = False
    while True:
        if d.proc.poll() is not None:
            code = d.wait_exit(10)  # joins the log reader: the records below are complete
            if termed:
                assert_clean_stop(d, code)  # the flatten beat the kill: a clean stop is fine
                break
            raise AssertionError(f"daemon exited by itself ({code}): "
                                 f"{d.stderr_tail()} {d.raw_lines[-5:]}")
        checked = checked or check_restart(d, fx) is not None
        if in_flight:
            if fx.call(lambda f: len(f.faults.fired)):
                break  # the request is at the venue, its answer stalled: the moment
            if time.monotonic() > kill_at:
                raise AssertionError("no order request reached the venue in time")
        elif time.monotonic() >= kill_at:
            if term_s is None:
                break
            d.send(signal.SIGTERM)
            termed = True
            kill_at, term_s = kill_at + term_s, None
            continue
        time.sleep(0.01)
    d.kill()
    return checked, d.proc.returncode == -signal.SIGKILL


def assert_clean_stop(d: DaemonProcess, code: int) -> None:
    """A SIGTERMed run that exits before its SIGKILL must have stopped the documented way:
    flat and 0 after a flatten, or 1 when the stop came before reconciliation (no flatten is
    run on unconfirmed books) and those books were not flat."""
    last = d.last_record
    assert last["event"] == "shutdown.complete", d.raw_lines[-5:]
    assert last["exit_code"] == code and code == (0 if last["flat"] else 1), last
    if code == 1:
        assert d.find("reconcile.complete") is None, last


def filled_trade_ids(d: DaemonProcess) -> list[str]:
    d.find("")
    return [r["trade_id"] for r in d.records if r.get("event") == "order.filled"]


@pytest.mark.parametrize("chain", range(CHAINS))
def test_sigkill_at_any_moment_costs_nothing_but_downtime(chain: int, tmp_path: Path) -> None:
    """Steps: TRIALS_PER_CHAIN times start the live daemon and SIGKILL it at a seeded moment
    (every third time while an order's ack is stalled at the venue, the fifth mid-flatten
    after a SIGTERM), checking each reconciled restart's position against the exchange and
    counting the kills that ended a live process; then start it once more, check, SIGTERM; the
    exchange, the journal and the logs agree exactly and the account is flat."""
    rng = random.Random(SEED * 1000 + chain)
    booked: Counter[str] = Counter()
    lost = 0  # orders found journaled but never placed, over all runs' reconciliations
    with FakeBinanceThread(seed=chain, tick_interval=0.05) as fx:
        btc0 = venue_base(fx)
        cfg = exchange_config(tmp_path, fx.ccxt_config(),
                              strategy=ALTERNATE if chain < 2 else TWO_LEGS, lookup_s="2",
                              sections={"reconcile": "interval_s = 1"})
        env = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret}
        checks = kills = 0
        placed = chain % 2 == 0  # in-flight: the venue places the order, then stalls; or never
        for trial in range(TRIALS_PER_CHAIN):
            in_flight = trial % 3 == 2
            mid_flatten = trial in MID_FLATTEN_TRIALS
            term_s = rng.uniform(0.0, 0.8) if mid_flatten else None
            if in_flight:
                fx.call(lambda f: f.faults.delay("/api/v3/order", STALL_S, method="POST",
                                                 process=placed))
            delay_s = 15.0 if in_flight else rng.uniform(
                *(TRADING_WINDOW_S if mid_flatten else KILL_WINDOW_S))
            d = DaemonProcess(cfg, env=env)
            try:
                checked, killed = run_until_killed(d, fx, time.monotonic() + delay_s,
                                                   in_flight, term_s)
                checks += checked
                kills += killed
                assert killed or mid_flatten, f"trial {trial}: not ended by its SIGKILL"
            finally:
                d.kill()
                fx.call(lambda f: (f.faults.clear(), f.faults.fired.clear()))
            booked.update(filled_trade_ids(d))
            lost += len([r for r in d.records if r.get("event") == "reconcile.order_lost"])
            print(f"chain {chain} trial {trial}: killed after "
                  f"{'in-flight' if in_flight else f'{delay_s:.2f}s'}"
                  f"{f' + {term_s:.2f}s of flatten' if term_s is not None else ''}, "
                  f"{len(our_orders(fx))} orders on the venue, exit {d.proc.returncode}")

        d = DaemonProcess(cfg, env=env)
        try:
            d.wait_for("reconcile.complete", 30)
            assert check_restart(d, fx) is not None
            d.wait_for("order.submitted", 20)  # it trades again after all that
            d.send(signal.SIGTERM)
            assert d.wait_exit(60) == 0, d.why()
        finally:
            d.kill()
        booked.update(filled_trade_ids(d))
        lost += len([r for r in d.records if r.get("event") == "reconcile.order_lost"])
        if chain % 2 and TRIALS_PER_CHAIN > 2:
            assert lost >= 1  # the stalled, never processed request was seen as lost
        assert_nothing_lost_or_doubled(fx, JournalFile(tmp_path / "state"), booked, btc0,
                                       d.last_record)
        print(f"chain {chain}: {kills} SIGKILLs landed, {checks} restarts checked mid-chain, "
              f"{len(our_orders(fx))} orders, {len(our_trades(fx))} trades")
    assert kills >= KILLS_PER_CHAIN
    KILLED[chain] = kills
    if len(KILLED) == CHAINS:  # every chain ran in this session: the total the run promises
        assert sum(KILLED.values()) >= MIN_KILLS, KILLED


def assert_nothing_lost_or_doubled(fx: FakeBinanceThread, journal: JournalFile,
                                   booked: Counter[str], btc0: Decimal,
                                   last: dict[str, Any]) -> None:
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    posts = fx.call(lambda f: dict(f.order_posts))
    assert posts and all(n == 1 for n in posts.values()), posts  # no order was sent twice
    venue_trades = our_trades(fx)
    journal_ids = journal.trade_ids()
    assert sorted(journal_ids) == sorted(str(t["id"]) for t in venue_trades)  # none lost
    assert len(journal_ids) == len(set(journal_ids))  # none journaled twice
    assert all(n == 1 for n in booked.values()), booked.most_common(3)  # none booked twice
    assert set(booked) <= set(journal_ids)
    orders = journal.orders()
    for o in our_orders(fx):  # every order on the venue was journaled before it was sent
        state, filled, _ = orders[o["clientOrderId"]]
        assert (state == "filled") == (o["status"] == "FILLED"), (o, state)
        assert filled == Decimal(o["executedQty"]), (o, filled)
    on_venue = {o["clientOrderId"] for o in our_orders(fx)}
    for coid, (state, _, settled) in orders.items():
        assert state in ("filled", "cancelled", "rejected"), (coid, state)
        if coid not in on_venue:
            assert state == "rejected" and settled, (coid, state)  # never reached the venue
    dust = Decimal(last["dust"].get("BTC/USDT", "0"))
    assert journal.position() == venue_position(venue_trades) == dust
    assert venue_base(fx) - btc0 == dust and dust < Decimal("0.00001")
