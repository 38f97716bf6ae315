"""The whole daemon in live mode against the local Binance (unmodified ccxt over HTTP/WS).

Every test checks the exchange's own records, not just the daemon's log: orders placed per
client id, trades, open orders and balances as the venue holds them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.venue import JournalFile
from tests.support.wait import eventually

pytestmark = pytest.mark.system
ALTERNATE = ("tests.support.strategies:Alternate", 'symbol = "BTC/USDT"\nqty = "0.01"')
PREFIX = "td-"


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=11, tick_interval=0.05) as fxt:
        yield fxt


@pytest.fixture
def run_daemon(fx: FakeBinanceThread, tmp_path: Path,
               daemons: Callable[..., DaemonProcess]) -> Callable[..., DaemonProcess]:
    """A daemon on the local exchange (live mode and its credentials unless told otherwise)."""
    def start(strategy: tuple[str, str] = ALTERNATE, mode: str = "live", env: dict[str, str]
              | None = None, **kw: Any) -> DaemonProcess:
        cfg = exchange_config(tmp_path, fx.ccxt_config(), mode=mode, strategy=strategy, **kw)
        creds = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret}
        return daemons(cfg, env=creds if env is None else env)

    return start


def our_orders(fx: FakeBinanceThread) -> list[dict[str, Any]]:
    return [o for o in fx.call(lambda f: f.orders())
            if str(o.get("clientOrderId", "")).startswith(PREFIX)]


def fills_booked(d: DaemonProcess) -> list[dict[str, Any]]:
    d.find("")  # drain
    return [r for r in d.records if r.get("event") == "order.filled"]


def assert_flat_on_exchange(fx: FakeBinanceThread, d: DaemonProcess, start_btc: Decimal) -> None:
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    dust = Decimal(last["dust"].get("BTC/USDT", "0"))
    orders = our_orders(fx)
    assert all(o["status"] in ("FILLED", "CANCELED", "EXPIRED", "REJECTED") for o in orders)
    btc = Decimal(fx.call(lambda f: f.balances())["BTC"]["free"])
    # What the venue holds beyond the start is exactly the dust the daemon reports: fees
    # taken in base leave less than the venue's minimum lot, which no order can sell.
    assert btc - start_btc == dust
    assert dust < Decimal("0.00001")
    posts = fx.call(lambda f: dict(f.order_posts))
    assert posts and all(n == 1 for n in posts.values()), posts  # no order was ever resent
    ours = {o["orderId"] for o in orders}
    exchange_trades = {str(t["id"]) for t in fx.call(lambda f: f.trades())
                       if t["orderId"] in ours}
    booked = [r["trade_id"] for r in fills_booked(d)]
    assert len(booked) == len(set(booked))  # each fill booked once
    assert set(booked) == exchange_trades  # and none lost


def start_btc(fx: FakeBinanceThread) -> Decimal:
    return Decimal(fx.call(lambda f: f.balances())["BTC"]["free"])


def test_live_trading_survives_faults_and_ends_flat_on_the_exchange(
        fx: FakeBinanceThread, run_daemon: Any, tmp_path: Path) -> None:
    """Steps: trade live (an order every bar); inject a 429 with Retry-After, a 503 on order
    placement, a forced -2010 and -1013, and a websocket drop, waiting after each for more
    fills; SIGTERM; the exchange shows no open order, base back to start plus the reported
    dust, one POST per client id, and exactly the trades the daemon booked."""
    btc0 = start_btc(fx)
    d = run_daemon()
    d.wait_for("order.filled", 40)

    def fills_after(n: int) -> bool:
        return len(fills_booked(d)) >= n

    fx.call(lambda f: f.faults.rate_limit("/api/v3/order", method="POST", retry_after=1))
    d.wait_for("exchange.rate_limited", 20)
    n = len(fills_booked(d))
    eventually(lambda: fills_after(n + 2), 30, what="fills after 429")
    fx.call(lambda f: f.faults.server_error("/api/v3/order", method="POST", status=503))
    d.wait_for("order.outcome_unknown", 20)
    d.wait_for("order.rejected", 20, reason="lost_in_transit")
    fx.call(lambda f: f.faults.reject_orders(-2010))
    d.wait_for("order.send_failed", 20, reason="insufficient_funds")
    fx.call(lambda f: f.faults.reject_orders(-1013))
    d.wait_for("order.send_failed", 20, reason="invalid_order")
    n = len(fills_booked(d))
    assert fx.call(lambda f: f.drop_websockets()) > 0
    d.wait_for("user_stream.reconnect", 20)
    eventually(lambda: fills_after(n + 2), 30, what="fills after the websocket drop")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    assert_flat_on_exchange(fx, d, btc0)
    # The journal took the venue's refusals as final: nothing about them is left to check.
    orders = JournalFile(tmp_path / "state").orders()
    for reason in ("insufficient_funds", "invalid_order"):
        refused = d.find("order.send_failed", reason=reason)
        assert refused is not None and orders[refused["client_order_id"]] == (
            "rejected", Decimal(0), True)
    assert not [o for o, (state, _, _) in orders.items() if state not in (
        "filled", "cancelled", "rejected")]


def test_create_timeout_that_succeeded_is_not_placed_twice(fx: FakeBinanceThread,
                                                           run_daemon: Any) -> None:
    """Steps: the first order's request stalls past the client timeout but the venue places
    it; the daemon looks it up by client id instead of resending, books its fill, and ends
    flat with one POST per client id."""
    btc0 = start_btc(fx)
    fx.call(lambda f: f.faults.delay("/api/v3/order", 6.0, method="POST", process=True))
    d = run_daemon(extra_exchange="timeout_ms = 2000\n")
    found = d.wait_for("order.found_after_ambiguous_create", 40)
    eventually(lambda: any(r["client_order_id"] == found["client_order_id"]
                           for r in fills_booked(d)), 20, what="the stalled order's fill")
    d.send(signal.SIGTERM)
    code = d.wait_exit(60)
    if code:
        print("\n".join(ln[:300] for ln in d.raw_lines if "market_data.gap" not in ln))
    assert code == 0
    assert fx.call(lambda f: f.order_post_count(found["client_order_id"])) == 1
    assert_flat_on_exchange(fx, d, btc0)


def test_paper_mode_on_exchange_data_sends_no_orders(fx: FakeBinanceThread,
                                                     run_daemon: Any) -> None:
    """Steps: paper mode with the exchange's public data and no keys; paper fills happen at
    the exchange's prices; the venue never sees an order."""
    d = run_daemon(mode="paper", env={})
    fill = d.wait_for("order.filled", 40)
    assert fill["trade_id"].startswith("T")  # the paper broker's ids
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0
    assert d.last_record["flat"] is True
    assert fx.call(lambda f: dict(f.order_posts)) == {}
    assert not fx.call(lambda f: f.unhandled)


def test_live_mode_without_credentials_exits_78(run_daemon: Any) -> None:
    d = run_daemon(env={})
    assert d.wait_exit(30) == 78
    assert "live mode needs API credentials" in d.stderr_tail()


def test_rejected_credentials_exit_77_without_trading(fx: FakeBinanceThread,
                                                      run_daemon: Any) -> None:
    d = run_daemon(env={"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": "wrong" * 8})
    assert d.wait_exit(30) == 77
    err = d.stderr_tail()
    assert "refused our credentials" in err and "wrong" * 8 not in err
    assert fx.call(lambda f: dict(f.order_posts)) == {}


def test_allotted_capital_above_free_balance_is_refused(fx: FakeBinanceThread,
                                                        run_daemon: Any) -> None:
    d = run_daemon(capital="100000000")
    assert d.wait_exit(30) == 78
    assert "exchange.allotted_capital: 100000000 USDT is more than" in d.stderr_tail()
    assert fx.call(lambda f: dict(f.order_posts)) == {}


def test_credentials_revoked_while_trading_stop_the_daemon_with_77(fx: FakeBinanceThread,
                                                                   run_daemon: Any) -> None:
    """Steps: trade live; the venue starts refusing our signature (key rotated elsewhere); the
    next signed call fails with an authentication error, which is not one order's rejection:
    the daemon takes the crash path and exits 77."""
    d = run_daemon(flatten_timeout_s=3)
    d.wait_for("order.filled", 40)
    fx.call(lambda f: setattr(f.auth, "api_secret", "rotated" * 6))
    assert d.wait_exit(60) == 77
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["exit_code"] == 77
    assert "refused our credentials" in (d.find("task.crashed") or {}).get("error", "")
