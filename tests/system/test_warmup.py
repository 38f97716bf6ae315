"""History warm-up in live mode against the local Binance: the AR strategy's `lags + 1` bars come
from the venue's klines before the first live bar, so a restarted daemon forecasts at its first
bar close; with the klines endpoint failing, the fallback is logged and it warms up live."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.fake_exchange.faults import HttpFault
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.wait import eventually

pytestmark = pytest.mark.system
LAGS = 3


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=5, tick_interval=0.05) as fxt:
        yield fxt


def _seconds_of_tape(fx: FakeBinanceThread) -> int:
    return int(fx.call(lambda f: len(f.markets["BTCUSDT"].tape.klines(1000, None, None, 1000))))


def _start(fx: FakeBinanceThread, tmp: Path,
           daemons: Callable[..., DaemonProcess]) -> DaemonProcess:
    cfg = exchange_config(tmp, fx.ccxt_config())
    return daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key,
                             "TRADINGD_API_SECRET": fx.api_secret})


def _stop(d: DaemonProcess) -> None:
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.why()


def test_restarted_daemon_forecasts_at_its_first_bar_close(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    """1. the venue has printed trades for a few seconds (1 s klines to serve); 2. a daemon
    runs and stops; 3. restarted on the same state, it loads 4 closed 1 s bars from the
    venue's klines before trading; 4. its first forecast comes at its first live bar close."""
    eventually(lambda: _seconds_of_tape(fx) >= LAGS + 3, 20, what="a few seconds of trades")
    first = _start(fx, tmp_path, daemons)
    first.wait_for("warmup.done", 30)
    _stop(first)
    again = _start(fx, tmp_path, daemons)
    done = again.wait_for("warmup.done", 30)
    assert done["bars"] == LAGS + 1
    forecast = again.wait_for("ar.first_forecast", 30)
    assert forecast["live_bars"] == 1
    assert forecast["bar_end_ns"] > done["last_end_ns"]
    _stop(again)


def test_history_failing_logs_the_fallback_and_warms_up_live(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    """1. every klines request fails (HTTP 500); 2. the daemon logs `warmup.unavailable` and
    trades on; 3. its first forecast comes once live bars have filled the lags."""
    fx.call(lambda f: f.faults.add(HttpFault("/api/v3/klines", "GET", remaining=1000,
                                             status=500)))
    d = _start(fx, tmp_path, daemons)
    fallback = d.wait_for("warmup.unavailable", 30)
    assert "fallback" in fallback
    forecast = d.wait_for("ar.first_forecast", 30)
    assert forecast["live_bars"] == LAGS + 1
    assert d.find("warmup.done") is None
    _stop(d)
