"""A local fake Binance spot exchange for driving an unmodified ccxt client in tests.

    async with FakeBinance(seed=1) as fx:
        ex = ccxt.async_support.binance({**fx.ccxt_config(), **fx.ccxt_credentials()})

See server.py for the operator API, control.py for the HTTP control endpoints, and
ccxt_config.py for why each ccxt setting is needed.
"""

from .auth import FAKE_API_KEY, FAKE_API_SECRET
from .ccxt_config import ccxt_config
from .errors import BinanceError
from .markets import DEFAULT_SYMBOLS, SymbolSpec
from .server import FakeBinance
from .testing import eventually, eventually_sync
from .threaded import FakeBinanceThread

__all__ = [
    "DEFAULT_SYMBOLS",
    "FAKE_API_KEY",
    "FAKE_API_SECRET",
    "BinanceError",
    "FakeBinance",
    "FakeBinanceThread",
    "SymbolSpec",
    "ccxt_config",
    "eventually",
    "eventually_sync",
]
