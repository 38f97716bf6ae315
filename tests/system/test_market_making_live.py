"""The market maker in live mode against the local Binance (unmodified ccxt over HTTP/WS): it
quotes both sides post-only, requotes (cancel + new), never takes liquidity with a quote, keeps
its inventory within `max_inventory`, and on SIGTERM leaves no open order and is flat."""

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
from tests.support.venue import our_orders
from tests.support.wait import eventually

pytestmark = pytest.mark.system
MAX_INVENTORY = Decimal("0.003")
MM = ("strategies.market_making:MarketMaker",
      'symbol = "BTC/USDT"\nqty = "0.001"\nmax_inventory = "0.003"\ntau_s = 0.1\n'
      "requote_bps = 1.0\nmax_quote_age_s = 2.0")


@pytest.fixture
def fx() -> Iterator[FakeBinanceThread]:
    with FakeBinanceThread(seed=21, tick_interval=0.1) as fxt:
        yield fxt


def _open(fx: FakeBinanceThread, side: str) -> list[dict[str, Any]]:
    return [o for o in our_orders(fx) if o["status"] == "NEW" and o["side"] == side]


def test_market_maker_quotes_requotes_and_stops_flat(
        fx: FakeBinanceThread, tmp_path: Path,
        daemons: Callable[..., DaemonProcess]) -> None:
    """1. the maker rests a post-only bid (spot: no ask before it holds base); 2. the market
    drops through the bid: it fills as a maker, and an ask joins a new bid — both sides quoted
    at once; 3. quotes older than 2 s are replaced (the venue shows cancelled quotes); 4. every
    trade of ours was a maker trade and the position never passed `max_inventory`; 5. SIGTERM:
    exit 0, flat, no open order of ours on the venue."""
    cfg = exchange_config(tmp_path, fx.ccxt_config(), strategy=MM, sections={"risk": risk(
        max_orders_per_second=20, max_orders_per_minute=600, max_rejections_per_minute=100)})
    d = daemons(cfg, env={"TRADINGD_API_KEY": fx.api_key, "TRADINGD_API_SECRET": fx.api_secret})
    bid = eventually(lambda: _open(fx, "BUY"), 30, what="a resting bid")[0]
    assert bid["type"] == "LIMIT_MAKER"
    below = (Decimal(str(bid["price"])) - Decimal(5)).quantize(Decimal("0.01"))
    fx.call(lambda f: f.set_mid("BTCUSDT", below))
    eventually(lambda: _open(fx, "BUY") and _open(fx, "SELL"), 30, what="both sides quoted")
    eventually(lambda: sum(o["status"] == "CANCELED" for o in our_orders(fx)) >= 2, 30,
               what="quotes replaced")
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.why()
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
    assert not [o for o in our_orders(fx) if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    quotes = {o["orderId"] for o in our_orders(fx) if o["type"] == "LIMIT_MAKER"}
    trades = [t for t in fx.call(lambda f: f.trades()) if t["orderId"] in quotes]
    assert trades and all(t["isMaker"] for t in trades)
    positions = [Decimal(r["position"]) for r in d.records if r.get("event") == "order.filled"]
    assert positions and all(abs(p) <= MAX_INVENTORY for p in positions)
    submitted = [r for r in d.records if r.get("event") == "order.submitted"
                 and r.get("tag") in ("bid", "ask")]
    assert {r["tag"] for r in submitted} == {"bid", "ask"}
