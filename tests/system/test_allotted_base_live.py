"""`exchange.allotted_base` live against the local Binance (unmodified ccxt over HTTP/WS): the
market maker quotes an ask from the allotted base before it has bought anything; a sale of the
allotment is a position below zero that reconciliation counts against the account's base; the
stop buys it back; and a start with less free base than allotted is refused before any order."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.configs import risk
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.venue import our_orders, our_trades, venue_position
from tests.support.wait import eventually

pytestmark = pytest.mark.system
ALLOTTED = Decimal("0.003")
MM = ("strategies.market_making:MarketMaker",
      'symbol = "BTC/USDT"\nqty = "0.001"\nmax_inventory = "0.003"\ntau_s = 0.1\n'
      "requote_bps = 1.0\nmax_quote_age_s = 2.0")


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=21, tick_interval=0.1) as fxt:
        yield fxt


def _start(fx: FakeBinanceThread, tmp: Path, daemons: Callable[..., DaemonProcess],
           allotted: Decimal = ALLOTTED) -> DaemonProcess:
    cfg = exchange_config(
        tmp, fx.ccxt_config(), strategy=MM,
        extra_exchange=f'allotted_base = {{ BTC = "{allotted}" }}\n',
        sections={"reconcile": "interval_s = 1", "risk": risk(
            max_orders_per_second=20, max_orders_per_minute=600,
            max_rejections_per_minute=100)})
    return daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key,
                             "TRADINGD_API_SECRET": fx.api_secret})


def _open(fx: FakeBinanceThread, side: str) -> list[dict[str, Any]]:
    return [o for o in our_orders(fx) if o["status"] == "NEW" and o["side"] == side]


def test_maker_sells_from_the_allotment_reconciles_it_and_buys_it_back(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    """1. the account holds exactly the allotted 0.003 BTC; 2. the maker quotes a bid and an
    ask before any fill; 3. the market rises through the ask: it fills as a maker, the
    position is -0.001 (counted from the allotment) and the periodic reconciliation, which
    runs every second, finds no drift; 4. the free BTC leaves the account behind the daemon's
    back: the allotment plus the position is no longer there, which is drift: it halts and
    flattens; 5. SIGTERM: exit 0, flat (the allotment held again), no open order of ours."""
    fx.call(lambda f: f.set_balance("BTC", ALLOTTED))
    d = _start(fx, tmp_path, daemons)
    d.wait_for("reconcile.complete", 30)
    eventually(lambda: _open(fx, "SELL") and _open(fx, "BUY"), 30, what="both sides quoted")
    ask = _open(fx, "SELL")[0]
    d.wait_for("order.submitted", 30, tag="ask")
    events = [r.get("event") for r in d.records]
    first_ask = next(i for i, r in enumerate(d.records) if r.get("tag") == "ask")
    assert "order.filled" not in events[:first_ask]  # the ask came before any fill
    assert ask["type"] == "LIMIT_MAKER" and Decimal(str(ask["origQty"])) == Decimal("0.001")
    above = (Decimal(str(ask["price"])) + Decimal(5)).quantize(Decimal("0.01"))
    fx.call(lambda f: f.set_mid("BTCUSDT", above))
    filled = d.wait_for("order.filled", 30)
    assert filled["side"] == "sell" and Decimal(filled["position"]) == Decimal("-0.001")
    assert all(t["isMaker"] and not t["isBuyer"] for t in our_trades(fx))
    # Three passes see as much base held by the venue as by the daemon: no drift.
    passes = fx.call(lambda f: len(f.request_log))
    eventually(lambda: sum(p == "/api/v3/account" for _, _, p in
                           fx.call(lambda f: list(f.request_log))[passes:]) >= 3, 30,
               what="three reconciliation passes after the fill")
    assert d.find("reconcile.suspect") is None and d.find("reconcile.drift") is None
    fx.call(lambda f: f.set_balance("BTC", "0"))  # what a resting ask locks stays
    drift = d.wait_for("reconcile.drift", 30)
    # The daemon's holding is the allotment plus its position (it kept quoting meanwhile).
    held = ALLOTTED + Decimal(drift["positions"]["BTC/USDT"])
    assert drift["drifts"][0].startswith(f"BTC: position {held} exceeds"), drift
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.why()
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    assert not _open(fx, "BUY") and not _open(fx, "SELL")
    # Flat is the allotment held again: what our trades bought and sold nets to less than a
    # lot (the base fees of the buys).
    assert abs(venue_position(our_trades(fx))) < Decimal("0.00001")


def test_less_free_base_than_allotted_is_refused_before_any_order(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    fx.call(lambda f: f.set_balance("BTC", "0.0029"))
    d = _start(fx, tmp_path, daemons)
    assert d.wait_exit(30) == 78
    assert ("exchange.allotted_base.BTC: 0.003 BTC is more than the account's free balance "
            "of 0.0029") in d.stderr_tail()
    assert fx.call(lambda f: dict(f.order_posts)) == {}


def test_a_restart_counts_the_allotment_sold_and_locked_by_its_own_orders(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    """1. the account holds exactly the allotted 0.003 BTC; the maker's ask fills (0.001 of the
    allotment sold) and it quotes on; 2. SIGKILL, with its quotes resting (an ask locks base);
    3. the restart's check asks the free base to cover the allotment plus what the journal's
    fills bought less what they sold, less what its open sells lock — exactly what is there —
    and so starts and reconciles, where counting the allotment alone would refuse it."""
    fx.call(lambda f: f.set_balance("BTC", ALLOTTED))
    first = _start(fx, tmp_path, daemons)
    ask = eventually(lambda: _open(fx, "SELL"), 30, what="a resting ask")[0]
    above = (Decimal(str(ask["price"])) + Decimal(5)).quantize(Decimal("0.01"))
    fx.call(lambda f: f.set_mid("BTCUSDT", above))
    first.wait_for("order.filled", 30, side="sell")
    eventually(lambda: _open(fx, "SELL"), 30, what="the ask quoted again")
    first.kill()
    free = Decimal(fx.call(lambda f: f.balances())["BTC"]["free"])
    assert free < ALLOTTED  # sold and locked: the allotment alone is more than is free
    again = _start(fx, tmp_path, daemons)
    again.wait_for("reconcile.complete", 30)
    assert again.find("reconcile.failed") is None
    again.send(signal.SIGTERM)
    assert again.wait_exit(40) == 0, again.why()
    assert again.last_record["flat"] is True
