"""The seed strategy: an AR(3) torch model on bar log returns, long/short by the forecast's sign.

From the seed code this project grew from: the model forecasts the next bar's log return from
the last three (newest first); a new sign closes the old position and opens one of size
equity / price x `scale`, so winnings compound. Equity is cash plus *unrealized PnL* with the
right sign (the seed reversed it, so a winning long sized the next trade off a loss). On spot
markets a short signal means flat. It asks for `lags + 1` bars of history (`warmup_bars`), so a
restart forecasts at the first bar close instead of `lags + 1` bars later; its first forecast
is logged (`ar.first_forecast`, with how many live bars it took).

torch is imported here and nowhere in the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import torch

from daemon.book.inventory import InventoryView
from daemon.features import LogReturnLags
from daemon.model import ZERO, Bar, Instrument, MarketKind, OrderIntent, Side, to_decimal_price
from daemon.ops import log
from strategies.base import SingleInstrumentStrategy, StrategyContext, StrategyParamError

_log = log.get("strategy")
SEED_WEIGHTS = "ar3_seed_12h.pt"
# Spot cannot borrow: a buy is sized off at most this fraction of equity, whatever `scale`
# says, leaving room for the spread and the fee so the gate's spot_capital check passes it.
SPOT_MAX_FRACTION = Decimal("0.99")


class ARParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    bar_interval_s: int = 43_200
    lags: int = 3
    scale: Decimal = Decimal(1)  # leverage: 1 = the whole equity, 0.5 = half of it
    # > 0: every position is exactly this many base units instead of the compounding size
    # (a fixed-risk book, and the benchmark workload's "flip 0.01 BTC"); `scale` is then unused.
    fixed_qty: Decimal = Decimal(0)
    weights: str = ""  # empty: the packaged seed weights
    # The seed weights were fitted on 12h bars. Running them on other bars is a demo, not a
    # forecast; it has to be asked for by name.
    allow_interval_mismatch: bool = False

    def __post_init__(self) -> None:
        if self.bar_interval_s <= 0:
            raise ValueError("bar_interval_s: must be > 0")
        if self.lags <= 0:
            raise ValueError("lags: must be > 0")
        if not Decimal(0) < self.scale <= Decimal(10):
            raise ValueError("scale: must be > 0 and <= 10")
        if self.fixed_qty < 0:
            raise ValueError("fixed_qty: must be >= 0")


def target_qty(equity: Decimal, price: Decimal, scale: Decimal, inst: Instrument) -> Decimal:
    """Compounding size: equity / price x scale, rounded down to the size grid (never 0 < q)."""
    if equity <= 0 or price <= 0:
        return ZERO
    return inst.floor_qty(equity / price * scale)


def load_model(path: Path, lags: int, bar_interval_s: int,
               allow_interval_mismatch: bool) -> torch.nn.Linear:
    try:
        blob = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise StrategyParamError("weights", f"file not found: {path}") from None
    except Exception as err:
        raise StrategyParamError("weights", f"cannot load {path}: {err}") from None
    meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
    if meta.get("lags") != lags:
        raise StrategyParamError("lags", f"{lags} does not match the model's {meta.get('lags')}")
    if meta.get("bar_interval_s") != bar_interval_s and not allow_interval_mismatch:
        raise StrategyParamError(
            "bar_interval_s", f"{bar_interval_s} does not match the model's "
            f"{meta.get('bar_interval_s')} (set allow_interval_mismatch = true to run anyway)")
    model = torch.nn.Linear(lags, 1)
    try:
        model.load_state_dict(blob["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise StrategyParamError("weights", f"not an AR({lags}) state dict: {err}") from None
    model.eval()
    return model


class ARForecastStrategy(SingleInstrumentStrategy[ARParams]):
    Params = ARParams

    def __init__(self, params: ARParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        if params.symbol not in ctx.instruments:
            raise StrategyParamError("symbol", f"'{params.symbol}' is not a configured instrument")
        self._inst = ctx.instruments[params.symbol]
        if params.weights:
            path = ctx.resolve(params.weights)
        else:
            path = Path(str(resources.files("strategies") / "weights" / SEED_WEIGHTS))
        self.model = load_model(path, params.lags, params.bar_interval_s,
                                params.allow_interval_mismatch)
        self._features = LogReturnLags(params.lags)
        self._fixed_qty = self._inst.floor_qty(params.fixed_qty)  # 0: compounding sizes
        # Preallocated input and output: one model evaluation per bar, no allocation. The
        # features write the lags straight into a numpy view of the input's memory (a numpy
        # item store is ~0.1 us, a tensor's ~7 us) and the forecast is read from a view of the
        # output. The evaluation is the model's own forward for one sample, `bias + weight @ x`,
        # as one `addmv` into the output: 0.9 us against 6.3 us through `nn.Module.__call__`
        # (hook dispatch, output allocation) and 1.3 us as a 1x3 by 3x1 `addmm`.
        self._x = torch.zeros(params.lags)
        self._x_row: Any = self._x.numpy()
        self._y = torch.zeros(1)
        self._y_view = self._y.numpy()
        with torch.no_grad():
            self._weight = self.model.weight.detach()
            self._bias = self.model.bias.detach()
        # One sample of three numbers never gains from intra-op threads; an OpenMP pool would
        # only spin on the daemon's other core.
        torch.set_num_threads(1)
        self._inference = torch.inference_mode()
        self.last_forecast: float | None = None
        self.live_bars = 0

    @property
    def warmup_bars(self) -> int:
        return self.params.lags + 1  # lags returns need one close more

    def warm_up(self, bar: Bar) -> None:
        if bar.symbol == self.params.symbol:
            self._features.push(bar.close)

    def forecast(self, lags_newest_first: Sequence[float]) -> float:
        self._x_row[:] = lags_newest_first
        return self._predict()

    def _predict(self) -> float:
        """The model on the preallocated input, once, in inference mode.

        Inference mode is a per-thread switch. It is turned on at the first prediction on a
        thread and left on: nothing on the daemon's one thread trains, and entering and leaving
        `torch.inference_mode()` around each call (a Python-level context manager) cost as much
        as the model itself, on the bar-to-order path."""
        if not torch.is_inference_mode_enabled():
            self._inference.__enter__()
        torch.addmv(self._bias, self._weight, self._x, out=self._y)
        return float(self._y_view[0])

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        if bar.symbol != self.params.symbol:
            return ()
        self.live_bars += 1
        features = self._features
        if not features.push(bar.close) or not features.copy_into(self._x_row):
            return ()
        if self.last_forecast is None:
            _log.info("ar.first_forecast", live_bars=self.live_bars, bar_end_ns=bar.end_ns)
        self.last_forecast = y = self._predict()
        want = 1 if y > 0 else -1 if y < 0 else 0
        if want < 0 and self._inst.kind is MarketKind.SPOT:
            want = 0
        if view.has_working_orders(bar.symbol):
            return ()  # let the last decision finish before making another
        return self.rebalance(want, bar.close, view, bar.end_ns)

    def rebalance(self, want: int, price: Decimal | float, view: InventoryView,
                  bar_close_ns: int) -> list[OrderIntent]:
        """Intents that move the position to the wanted sign: close, then open at full size.
        `price` (for the compounding size) may be the bar's float close: it is converted only
        when an order is opened, not on every bar."""
        symbol = self.params.symbol
        # Dust (below the venue's minimum lot) cannot be traded: treat it as flat.
        held = view.position(symbol) if view.closable_qty(symbol) else ZERO
        have = (held > ZERO) - (held < ZERO)
        if want == have or (want == 0 and held == ZERO):
            return []
        intents = []
        if held:
            intents.append(OrderIntent(symbol, Side.of(-held), abs(held), reduce_only=True,
                                       tag="close", bar_close_ns=bar_close_ns))
        if want:
            qty = self._open_qty(price, view)
            if qty > 0:
                intents.append(OrderIntent(symbol, Side.BUY if want > 0 else Side.SELL, qty,
                                           tag="open", bar_close_ns=bar_close_ns))
        return intents

    def _open_qty(self, price: Decimal | float, view: InventoryView) -> Decimal:
        if self.params.fixed_qty:
            return self._fixed_qty
        if isinstance(price, float):
            price = to_decimal_price(price)
        scale = self.params.scale
        if self._inst.kind is MarketKind.SPOT:
            scale = min(scale, SPOT_MAX_FRACTION)
        return target_qty(view.equity(), price, scale, self._inst)


def save_weights(path: Path, weight: list[list[float]], bias: list[float],
                 bar_interval_s: int, **meta: Any) -> None:
    """Write a weights file in the format `load_model` reads (used to make the seed file)."""
    state = {"weight": torch.tensor(weight), "bias": torch.tensor(bias)}
    blob = {"state_dict": state,
            "meta": {"lags": len(weight[0]), "bar_interval_s": bar_interval_s, **meta}}
    torch.save(blob, path)
