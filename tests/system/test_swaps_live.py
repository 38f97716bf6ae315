"""The whole daemon live on USDⓈ-M perpetual swaps: the local fake's `/fapi` through unmodified
`ccxt.binanceusdm`.

Every test checks the venue's own records: its position (`positionAmt`), its orders (with their
`reduceOnly` flag) and its trades, not only the daemon's log.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.configs import CONTROL_TCP, RISK
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.http import TOKEN_ENV, control, metric
from tests.support.swap_venue import SWAP, ar_swap, our_orders, venue_position
from tests.support.wait import eventually

pytestmark = pytest.mark.system


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=11, tick_interval=0.05) as fxt:
        yield fxt


@pytest.fixture
def run_swap(fx: FakeBinanceThread, tmp_path: Path,
             daemons: Callable[..., DaemonProcess]) -> Callable[..., DaemonProcess]:
    """A live daemon on the fake's BTCUSDT perpetual (leverage 2, isolated by default)."""
    def start(strategy: tuple[str, str] | None = None,
              instrument: str = 'leverage = 2\nmargin_mode = "isolated"\n',
              **kw: Any) -> DaemonProcess:
        cfg = exchange_config(tmp_path, fx.ccxt_config(futures=True),
                              strategy=strategy or ar_swap(tmp_path),
                              symbol=SWAP, exchange_id="binanceusdm", instrument=instrument,
                              **kw)
        creds = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret}
        return daemons(cfg, env={**creds, **TOKEN_ENV})

    return start


def running_positions(fx: FakeBinanceThread) -> list[Decimal]:
    """The venue's position after each of its trades, in trade order."""
    pos, out = Decimal(0), []
    for t in fx.call(lambda f: [(fl.is_buyer, fl.qty) for fl in f.futures.fills]):
        pos += t[1] if t[0] else -t[1]
        out.append(pos)
    return out


def assert_flat_on_venue(fx: FakeBinanceThread, d: DaemonProcess) -> None:
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    assert venue_position(fx) == 0
    orders = our_orders(fx)
    assert orders and all(o["status"] in ("FILLED", "CANCELED", "EXPIRED") for o in orders)
    posts = fx.call(lambda f: dict(f.order_posts))
    assert posts and all(n == 1 for n in posts.values()), posts  # no order resent


def test_ar_trades_long_and_short_and_sigterm_while_short_ends_flat(
        fx: FakeBinanceThread, run_swap: Any) -> None:
    """Steps: the AR strategy (1 s bars, scale 2 on leverage 2) trades the perpetual live; the
    venue's position goes both long and short; once it is short, SIGTERM; the daemon exits 0
    and the venue holds no position and no open order. Leverage and margin mode were set on
    the venue before the first order; every closing order (the strategy's closes and the
    flatten's) went out reduce-only, and no opening order did."""
    d = run_swap()
    d.wait_for("startup.swap", 30, symbol=SWAP, leverage=2, margin_mode="isolated")
    eventually(lambda: min(running_positions(fx), default=0) < 0
               and max(running_positions(fx), default=0) > 0, 90,
               what="the venue's position both long and short")
    eventually(lambda: venue_position(fx) < 0, 60, what="a short position")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    assert_flat_on_venue(fx, d)
    settings = fx.call(lambda f: f.positions())["BTCUSDT"]
    assert (settings["leverage"], settings["marginType"]) == ("2", "isolated")
    d.find("")  # drain
    submitted = {r["client_order_id"]: r for r in d.records if r.get("event") == "order.submitted"}
    for order in our_orders(fx):
        rec = submitted[order["clientOrderId"]]
        assert order["reduceOnly"] is rec["reduce_only"], (order, rec)
        assert order["reduceOnly"] is (rec["tag"] in ("close", "flatten")), (order, rec)
    assert any(r["tag"] == "flatten" for r in submitted.values())


def exit_message(d: DaemonProcess) -> str:
    d.find("")
    return d.stderr_tail() + "".join(d.raw_lines)


def test_hedge_mode_account_exits_78_saying_what_to_change(fx: FakeBinanceThread,
                                                          run_swap: Any) -> None:
    """Steps: the account is in hedge (dual-position) mode; the daemon refuses to start (78),
    says to switch to one-way mode, and never sends an order or changes a setting."""
    fx.call(lambda f: setattr(f.futures, "dual_side", True))
    d = run_swap()
    assert d.wait_exit(60) == 78
    message = exit_message(d)
    assert "hedge (dual-position) mode" in message and "one-way" in message, message
    requests = fx.call(lambda f: list(f.requests))
    assert not [r for r in requests if r.startswith("POST /fapi")], requests


def test_refused_leverage_exits_78_naming_the_instrument(fx: FakeBinanceThread,
                                                        run_swap: Any) -> None:
    """Steps: the venue refuses the leverage (-4028); the daemon exits 78 naming the
    instrument and the key, before any order."""
    fx.call(lambda f: f.faults.reply("/fapi/v1/leverage", status=400, method="POST",
                                     body='{"code":-4028,"msg":"Leverage 2 is not valid"}'))
    d = run_swap()
    assert d.wait_exit(60) == 78
    message = exit_message(d)
    assert f"{SWAP} leverage = 2 was refused" in message, message
    assert not fx.call(lambda f: f.futures_orders())


def test_refused_margin_mode_exits_78_saying_what_to_change(fx: FakeBinanceThread,
                                                          run_swap: Any) -> None:
    """Steps: the venue refuses the margin type for good (-4048: a position is open in the
    other mode), not transiently; the daemon exits 78 naming the instrument and the key, with
    the venue's reason, and never tries the leverage or sends an order."""
    fx.call(lambda f: f.faults.reply(
        "/fapi/v1/marginType", status=400, method="POST",
        body='{"code":-4048,"msg":"Margin type cannot be changed if there exists position."}'))
    d = run_swap()
    assert d.wait_exit(60) == 78
    message = exit_message(d)
    assert f'{SWAP} margin_mode = "isolated" was refused' in message, message
    assert "Margin type cannot be changed if there exists position" in message, message
    assert d.find("startup.retry") is None  # a refusal is not retried
    requests = fx.call(lambda f: list(f.requests))
    assert [r for r in requests if r.startswith("POST /fapi/v1/marginType")], requests
    assert not [r for r in requests if r.startswith("POST /fapi/v1/leverage")], requests
    assert not fx.call(lambda f: f.futures_orders())


def test_transient_setting_failures_are_retried_then_trading_starts(
        fx: FakeBinanceThread, run_swap: Any) -> None:
    """Steps: the margin-type call meets a 503 and the leverage call a timeout-like 502; both
    are retried and set; the daemon trades and stops flat."""
    fx.call(lambda f: f.faults.server_error("/fapi/v1/marginType", status=503, method="POST"))
    fx.call(lambda f: f.faults.server_error("/fapi/v1/leverage", status=502, method="POST"))
    d = run_swap()
    d.wait_for("startup.swap", 60, symbol=SWAP, leverage=2)
    assert d.find("startup.retry") is not None
    eventually(lambda: venue_position(fx) != 0, 60, what="a position")
    settings = fx.call(lambda f: f.positions())["BTCUSDT"]
    assert (settings["leverage"], settings["marginType"]) == ("2", "isolated")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    assert_flat_on_venue(fx, d)


def test_position_changed_behind_the_daemons_back_is_drift_and_halts(
        fx: FakeBinanceThread, run_swap: Any) -> None:
    """Steps: the daemon buys 0.01 and holds; 0.005 more is bought on the account directly (not
    ours); the periodic reconciliation sees the venue's position differ from the books twice
    and halts through the latch (`reconcile.drift`); the halt's flatten sells the daemon's
    0.01 reduce-only. SIGTERM: the books are flat but the venue still holds the operator's
    0.005, so the stop is not clean (exit 1, `shutdown.venue_not_flat`)."""
    buy_once = ("tests.support.strategies:BuyOnce", f'symbol = "{SWAP}"\nqty = "0.01"')
    d = run_swap(strategy=buy_once, sections={"reconcile": "interval_s = 1"})
    d.wait_for("order.filled", 60)
    fx.call(lambda f: f.place_futures_order("BTCUSDT", "BUY", "0.005"))
    drift = d.wait_for("reconcile.drift", 30)
    assert drift["drifts"] == [f"{SWAP}: position 0.01 is not the venue's 0.015"], drift
    assert drift["state"] == "halted"
    eventually(lambda: venue_position(fx) == Decimal("0.005"), 30, what="the halt's flatten")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 1
    assert d.find("shutdown.venue_not_flat") is not None
    assert venue_position(fx) == Decimal("0.005")


def venue_equity(fx: FakeBinanceThread) -> Decimal:
    """The venue's wallet (allotted capital in these tests) plus its unrealized PnL at mark."""
    return fx.call(lambda f: f.futures.wallet + sum(
        (f.futures.unrealized(s) for s in f.futures.positions), Decimal(0)))


def venue_funding(fx: FakeBinanceThread) -> Decimal:
    return fx.call(lambda f: sum((i.income for i in f.futures.incomes
                                  if i.income_type == "FUNDING_FEE"), Decimal(0)))


def test_funding_is_booked_once_across_a_restart_and_equity_is_the_venues(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: the futures wallet is exactly the allotted capital; the daemon buys once and
    holds; the mark is pinned; a funding settlement is booked (`funding.booked`) and equity on
    `/metrics` and `GET /status` equals the venue's wallet + unrealized PnL at the mark; the
    daemon is SIGKILLed, a second settlement happens while it is down, and on restart the
    reconciler's backstop books the second one only: the funding the daemon holds is the
    venue's total, the first settlement still once. SIGTERM: flat on the venue."""
    with FakeBinanceThread(seed=11, tick_interval=0.05, futures_wallet="1000") as fx:
        buy_once = ("tests.support.strategies:BuyOnce", f'symbol = "{SWAP}"\nqty = "0.01"')
        cfg = exchange_config(tmp_path, fx.ccxt_config(futures=True), strategy=buy_once,
                              symbol=SWAP, exchange_id="binanceusdm",
                              instrument="leverage = 2\n",
                              sections={"reconcile": "interval_s = 1", "control": CONTROL_TCP})
        env = {"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret,
               **TOKEN_ENV}
        d = daemons(cfg, env=env)
        d.wait_for("order.filled", 60)
        fx.call(lambda f: f.set_mark("BTCUSDT", "62000"))
        fx.call(lambda f: f.fund("0.001"))  # a long pays 0.01 x 62000 x 0.001 = 0.62
        booked = d.wait_for("funding.booked", 30)
        assert Decimal(booked["amount"]) == Decimal("-0.62") == venue_funding(fx)
        metrics_port = d.wait_for("daemon.started", 5)["metrics_port"]
        control_port = d.wait_for("control.listening", 5)["port"]

        def equity_matches() -> bool:
            status = control(control_port, "GET", "/status")[1]
            want = venue_equity(fx)
            return (abs(Decimal(str(status["equity"])) - want) < Decimal("0.01")
                    and abs(Decimal(str(metric(metrics_port, "tradingd_equity"))) - want)
                    < Decimal("0.01"))
        eventually(equity_matches, 20, what="equity = venue wallet + unrealized at the mark")
        assert metric(metrics_port, "tradingd_funding_paid_total") == 0.62
        assert metric(metrics_port, 'tradingd_mark_price{instrument="BTC/USDT:USDT"}') == 62000
        d.kill()
        fx.call(lambda f: f.fund("0.0005"))  # while it is down: 0.31 paid
        d2 = daemons(cfg, env=env)
        d2.wait_for("reconcile.complete", 60)
        again = d2.wait_for("funding.booked", 30)
        assert Decimal(again["amount"]) == Decimal("-0.31")
        assert Decimal(again["funding_total"]) == Decimal("-0.93") == venue_funding(fx)
        control_port = d2.wait_for("control.listening", 5)["port"]
        metrics_port = d2.wait_for("daemon.started", 5)["metrics_port"]
        eventually(equity_matches, 20, what="equity after the restart")
        d2.send(signal.SIGTERM)
        assert d2.wait_exit(60) == 0
        assert venue_position(fx) == 0
        d2.find("")
        assert len([r for r in d2.records if r.get("event") == "funding.booked"]) == 1


def income_reads(fx: FakeBinanceThread) -> int:
    return len(fx.call(lambda f: [r for r in f.requests if r.startswith("GET /fapi/v1/income")]))


def push_funding_update(f: Any) -> None:
    """An `ACCOUNT_UPDATE` with reason FUNDING_FEE and no new settlement behind it."""
    f.futures._account_reason = "FUNDING_FEE"
    f.futures._changed.add("USDT")
    f.futures._flush_account()


def test_an_account_update_for_funding_books_it_at_once_and_once(
        fx: FakeBinanceThread, tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: REST polls are far apart (fill_poll_s = 120, reconcile.interval_s = 120); the
    daemon buys once and holds; a funding settlement is pushed on the user-data stream
    (`ACCOUNT_UPDATE`, reason FUNDING_FEE); the daemon asks for the income history at once
    (`funding.announced`) and books the settlement within seconds, which no poll could have;
    a second FUNDING_FEE update with nothing new behind it reads the history again and books
    nothing: the settlement is booked once, by its id."""
    buy_once = ("tests.support.strategies:BuyOnce", f'symbol = "{SWAP}"\nqty = "0.01"')
    cfg = exchange_config(tmp_path, fx.ccxt_config(futures=True), strategy=buy_once,
                          symbol=SWAP, exchange_id="binanceusdm", instrument="leverage = 2\n",
                          sections={"reconcile": "interval_s = 120"})
    cfg.write_text(cfg.read_text().replace("fill_poll_s = 1\n", "fill_poll_s = 120\n"))
    d = daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key,
                          "TRADINGD_API_SECRET": fx.api_secret})
    d.wait_for("order.filled", 60)
    fx.call(lambda f: f.set_mark("BTCUSDT", "61000"))
    fx.call(lambda f: f.fund("0.001"))  # a long pays 0.01 x 61000 x 0.001 = 0.61
    assert d.wait_for("funding.announced", 10)["reason"] == "FUNDING_FEE"
    booked = d.wait_for("funding.booked", 5)
    assert Decimal(booked["amount"]) == Decimal("-0.61") == venue_funding(fx)
    reads = income_reads(fx)
    fx.call(push_funding_update)

    def announced() -> int:
        d.find("")  # drain
        return sum(1 for r in d.records if r.get("event") == "funding.announced")
    eventually(lambda: announced() == 2, 10, what="the second update announced")
    eventually(lambda: income_reads(fx) > reads, 10, what="the history read again")
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
    d.find("")
    assert [r["amount"] for r in d.records if r.get("event") == "funding.booked"] == ["-0.61"]


def test_a_mark_near_the_liquidation_price_trips_the_breaker_and_flattens(
        fx: FakeBinanceThread, run_swap: Any) -> None:
    """Steps: the daemon buys 0.01 on 10x isolated and holds; the venue's mark is moved to 3%
    above the liquidation price the venue reports (inside `liquidation_breaker_pct` = 5);
    the breaker trips (`breaker.liquidation`, counted), trading goes REDUCING and the position
    is closed reduce-only before the venue would liquidate it. SIGTERM: exit 0, flat."""
    risk = "\n".join(f"{k} = {v}" for k, v in {**RISK, "max_leverage": '"10"'}.items())
    buy_once = ("tests.support.strategies:BuyOnce", f'symbol = "{SWAP}"\nqty = "0.01"')
    d = run_swap(strategy=buy_once, instrument='leverage = 10\nmargin_mode = "isolated"\n',
                 sections={"risk": risk + "\nmin_liquidation_distance_pct = 5"})
    d.wait_for("order.filled", 60)
    metrics_port = d.wait_for("daemon.started", 5)["metrics_port"]
    liq = Decimal(fx.call(lambda f: f.positions())["BTCUSDT"]["liquidationPrice"])
    assert liq > 0
    eventually(lambda: metric(metrics_port, 'tradingd_liquidation_price{instrument="'
                              f'{SWAP}"}}') == float(liq), 20, what="the venue's liquidation price")
    near = (liq * Decimal("1.03")).quantize(Decimal("0.01"))
    fx.call(lambda f: f.set_mark("BTCUSDT", near))
    trip = d.wait_for("breaker.liquidation", 30)
    assert Decimal(trip["liquidation_price"]) == liq and Decimal(trip["mark"]) == near
    eventually(lambda: venue_position(fx) == 0, 30, what="the breaker's flatten")
    assert fx.call(lambda f: f.futures.liquidations) == []  # out before the venue's liquidation
    closes = [o for o in our_orders(fx) if o["side"] == "SELL"]
    assert closes and all(o["reduceOnly"] for o in closes)
    assert metric(metrics_port, 'tradingd_circuit_breaker_trips_total{breaker="liquidation"}') == 1
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0


def test_new_risk_too_close_to_liquidation_is_denied(fx: FakeBinanceThread,
                                                     run_swap: Any) -> None:
    """Steps: 20x isolated, where a position liquidates about 4.5% from the mark, under a
    10% `min_liquidation_distance_pct`: the strategy's buy is denied with that reason and
    counted; the venue never sees an order."""
    risk = "\n".join(f"{k} = {v}" for k, v in {**RISK, "max_leverage": '"20"'}.items())
    buy_once = ("tests.support.strategies:BuyOnce", f'symbol = "{SWAP}"\nqty = "0.01"')
    d = run_swap(strategy=buy_once, instrument='leverage = 20\nmargin_mode = "isolated"\n',
                 sections={"risk": risk + "\nmin_liquidation_distance_pct = 10"})
    denied = d.wait_for("order.denied", 60, reason="min_liquidation_distance")
    assert "20x isolated" in denied["detail"]
    metrics_port = d.wait_for("daemon.started", 5)["metrics_port"]
    assert metric(metrics_port, 'tradingd_risk_denials_total{reason="min_liquidation_distance"}'
                  ) >= 1
    assert not our_orders(fx)
    d.send(signal.SIGTERM)
    assert d.wait_exit(60) == 0
