"""A trade socket that stays connected but goes quiet: the feed falls back to REST polling,
keeps the daemon's market data fresh from it, says so (log, metric, heartbeat, systemd STATUS),
and hands back to the websocket once it delivers again."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.fake_exchange import FakeBinanceThread
from tests.support.daemon_proc import DaemonProcess
from tests.support.exchange_config import exchange_config
from tests.support.http import metric
from tests.support.market_driver import MarketDriver
from tests.support.wait import eventually

pytestmark = pytest.mark.system
WATCHER = ("tests.support.strategies:BookWatcher", 'symbol = "BTC/USDT"\ndepth = 0')
TRADES = 'tradingd_market_data_messages_total{kind="trade"}'


def test_a_silent_trade_socket_falls_back_to_rest_and_back(tmp_path: Path) -> None:
    """Steps: paper mode on the local exchange's moving market; mute its public @trade stream
    (the socket stays up, REST still answers): after `ws_silence_s` the path is REST, trades
    keep arriving and no data goes stale; unmute: the path is the websocket again."""
    with FakeBinanceThread(seed=4) as fx, MarketDriver(fx):
        cfg = exchange_config(
            tmp_path, fx.ccxt_config(), mode="paper", strategy=WATCHER,  # silence 3 s, poll 0.5
            sections={"health": "heartbeat_s = 0.5\nstale_data_s = 5"})
        d = DaemonProcess(cfg, env={})
        try:
            port = d.wait_for("daemon.started", 40)["metrics_port"]
            d.wait_for("heartbeat", 30, market_data_path="websocket")
            fx.call(lambda f: f.faults.muted_streams.add("@trade"))
            switched = d.wait_for("market_data.path", 20, path="rest")
            assert metric(port, 'tradingd_market_data_path{path="rest"}') == 1
            assert metric(port, "tradingd_rest_fallbacks_total") >= 1
            before = metric(port, TRADES)
            eventually(lambda: metric(port, TRADES) >= before + 10, 20,
                       what="trades over REST")
            d.wait_for_match(20, lambda r: r.get("event") == "heartbeat"
                             and r["market_data_path"] == "rest"
                             and r["ts"] > switched["ts"], "a heartbeat on REST")
            fx.call(lambda f: f.faults.muted_streams.clear())
            d.wait_for("market_data.path", 20, path="websocket")
            assert metric(port, 'tradingd_market_data_path{path="websocket"}') == 1
            assert d.find("market_data.stale") is None  # REST kept the data fresh throughout
            d.send(signal.SIGTERM)
            assert d.wait_exit(40) == 0
        finally:
            d.kill()
