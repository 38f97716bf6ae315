"""The fake's USDⓈ-M perpetual as the swap tests see it: the symbol, a strategy that flips,
and the venue's own records (position, our orders)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fake_exchange import FakeBinanceThread

SWAP = "BTC/USDT:USDT"
PREFIX = "td-"


def ar_swap(tmp: Path, scale: str = "2") -> tuple[str, str]:
    """The AR strategy on 1 s bars with demo weights that forecast minus the last return: on a
    random walk its sign flips every few bars (the seed weights' bias dwarfs a 1 s return, so
    they would stay long)."""
    from strategies.ar_forecast import save_weights
    path = tmp / "ar_demo.pt"
    save_weights(path, [[-1.0, 0.0, 0.0]], [0.0], bar_interval_s=1, source="test demo")
    return ("strategies.ar_forecast:ARForecastStrategy",
            f'symbol = "{SWAP}"\nbar_interval_s = 1\nweights = "{path}"\nscale = "{scale}"')


def venue_position(fx: FakeBinanceThread) -> Decimal:
    return Decimal(fx.call(lambda f: f.positions())["BTCUSDT"]["positionAmt"])


def our_orders(fx: FakeBinanceThread) -> list[dict[str, Any]]:
    return [o for o in fx.call(lambda f: f.futures_orders())
            if str(o["clientOrderId"]).startswith(PREFIX)]
