"""The whole daemon in live mode against the local Binance when the network fails it.

The exchange's own records are the judge: orders placed per client id, trades, balances.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.wait import eventually
from tests.system.test_exchange_live import (
    ALTERNATE,
    assert_flat_on_exchange,
    fills_booked,
    start_btc,
)

pytestmark = pytest.mark.system


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=13, tick_interval=0.05) as fxt:
        yield fxt


@pytest.fixture
def daemon(fx: FakeBinanceThread, tmp_path: Path,
           daemons: Callable[..., DaemonProcess]) -> DaemonProcess:
    cfg = exchange_config(tmp_path, fx.ccxt_config(), strategy=ALTERNATE, lookup_s="2",
                          extra_exchange="reconnect_max_s = 1\n")
    return daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key,
                             "TRADINGD_API_SECRET": fx.api_secret})


def test_partition_after_a_create_keeps_the_order_working_until_the_venue_answers(
        fx: FakeBinanceThread, daemon: DaemonProcess) -> None:
    """Steps: trade live (Alternate: one market order at a time); the next order lands on
    the venue and the network partitions before its answer: every REST call and websocket
    fails. After the lookup window the daemon says the order is unresolved and keeps looking
    it up, but neither ends it as lost nor sends another order (the strategy waits for its
    working order). The partition heals: the order is found, its fill booked, trading goes
    on. SIGTERM: flat on the exchange, one POST per client id, every trade booked once."""
    d = daemon
    btc0 = start_btc(fx)
    d.wait_for("order.filled", 40)
    fx.call(lambda f: f.faults.partition_after("/api/v3/order", method="POST"))
    coid = d.wait_for("order.outcome_unknown", 20)["client_order_id"]
    d.wait_for("order.unresolved", 20, client_order_id=coid)
    posts = fx.call(lambda f: sum(f.order_posts.values()))

    def dropped_lookups() -> int:
        return fx.call(lambda f: f.faults.fired.count(("GET", "/api/v3/order", "dropped")))

    seen = dropped_lookups()
    eventually(lambda: dropped_lookups() >= seen + 2, 20, what="lookups during the partition")
    assert d.find("order.rejected", client_order_id=coid) is None
    assert fx.call(lambda f: sum(f.order_posts.values())) == posts  # nothing new was sent
    fx.call(lambda f: f.faults.heal())
    d.wait_for("order.found_after_ambiguous_create", 30, client_order_id=coid)
    eventually(lambda: any(r["client_order_id"] == coid for r in fills_booked(d)), 20,
               what="the partitioned order's fill")
    booked = len(fills_booked(d))
    eventually(lambda: len(fills_booked(d)) >= booked + 2, 40, what="trading after the heal")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    assert_flat_on_exchange(fx, d, btc0)
    assert d.find("order.rejected", reason="lost_in_transit") is None
