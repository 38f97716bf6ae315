"""The strategy API: what a strategy sees and what it may return.

A strategy is named in config by import path (`module:Class`) with its own `[strategy.params]`
table, decoded into the class's `Params` struct (unknown keys rejected, errors name
`strategy.params.<key>`).

It sees closed bars, tick batches (with books if it asks for them), its own order events
(`on_fill`, `on_order`), a timer at the interval it asks for (`timer_interval_s`), and a
read-only `StrategyView`: the books plus its own working orders. Every callback returns actions
(`daemon.model.Action`): new orders (`OrderIntent`: market or limit, GTC / IOC / FOK /
post-only, reduce-only), `Cancel`, `CancelAll`, `Replace` and `ParentOrder` (a TWAP or POV the
daemon works as children, each through the gate). It never sees the broker: new
orders go through the risk gate; cancels only ever touch its own orders and are never refused.

History: `warmup_bars` closed bars per instrument are shown to `warm_up` before the first live
bar (from the venue, or the simulated market), so its features are ready at the first close.

The engine calls `on_fill`, `on_order` and `on_timer` only on strategies that override them:
one that does not pays nothing for them.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import msgspec

from daemon.book.strategy_view import StrategyView
from daemon.config import ConfigError, convert
from daemon.events import OrderAccepted, OrderCancelled, OrderRejected
from daemon.model import Action, Bar, Fill, Instrument, TickBatch

P = TypeVar("P", bound=msgspec.Struct)


class StrategyContext(msgspec.Struct, frozen=True):
    instruments: dict[str, Instrument]
    config_dir: Path

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.config_dir / p


class StrategyParamError(Exception):
    """A parameter is wrong in a way only the strategy can tell (a file, a model's metadata)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class Strategy(ABC, Generic[P]):
    Params: ClassVar[type[msgspec.Struct]]

    def __init__(self, params: P, ctx: StrategyContext) -> None:
        self.params = params
        self.ctx = ctx

    @property
    @abstractmethod
    def bar_interval_ns(self) -> int:
        """Bars of this length are built for the strategy's instruments."""

    @property
    @abstractmethod
    def symbols(self) -> Sequence[str]:
        """The instruments this strategy trades."""

    @property
    def book_depth(self) -> int:
        """Levels per side of the order book this strategy wants in its tick batches
        (`batch.book` in `on_ticks`). 0, the default: no books, and none is subscribed to."""
        return 0

    @property
    def warmup_bars(self) -> int:
        """Closed bars per instrument this strategy needs before it can decide; the daemon
        loads them at startup and shows them to `warm_up`. 0: none."""
        return 0

    @property
    def timer_interval_s(self) -> float:
        """`on_timer` is called about this often (0: never). Timers are checked at every tick
        batch and at least once a second when none arrives: that is their resolution."""
        return 0.0

    def warm_up(self, bar: Bar) -> None:
        """A closed bar from before the start, oldest first: update features, decide nothing."""
        return None

    def on_bar(self, bar: Bar, view: StrategyView) -> Sequence[Action]:
        return ()

    def on_ticks(self, batch: TickBatch, view: StrategyView) -> Sequence[Action]:
        return ()

    def on_fill(self, fill: Fill, view: StrategyView) -> Sequence[Action]:
        """One fill of one of this strategy's orders, once, after the books took it."""
        return ()

    def on_order(self, event: OrderEvent, view: StrategyView) -> Sequence[Action]:
        """One of its orders was accepted, rejected (`event.reason`), or cancelled or expired
        (`event.reason`: "" for a cancel, "expired" for an IOC/FOK that did not fill)."""
        return ()

    def on_timer(self, now_ns: int, view: StrategyView) -> Sequence[Action]:
        return ()

    def overrides(self, name: str) -> bool:
        """Whether this strategy's class implements the callback `name` (the engine calls
        only those)."""
        return getattr(type(self), name) is not getattr(Strategy, name)


OrderEvent = OrderAccepted | OrderRejected | OrderCancelled


class SingleInstrumentStrategy(Strategy[P]):
    """A strategy on one instrument's bars: its `Params` have `symbol` and `bar_interval_s`."""

    @property
    def bar_interval_ns(self) -> int:
        return int(cast(Any, self.params).bar_interval_s) * 1_000_000_000

    @property
    def symbols(self) -> Sequence[str]:
        return (str(cast(Any, self.params).symbol),)


def load(class_path: str, params: dict[str, Any], ctx: StrategyContext) -> Strategy[Any]:
    """Import, decode params, construct. Every failure is a `ConfigError` naming the key."""
    module_name, _, class_name = class_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise ConfigError(
            f"strategy.class: cannot import module '{module_name}': {err}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(
            f"strategy.class: '{class_path}' is not a Strategy subclass") from None
    decoded = convert(params, cls.Params, prefix="strategy.params")
    try:
        strategy = cls(decoded, ctx)
    except StrategyParamError as err:
        raise ConfigError(f"strategy.params.{err.key}: {err.message}") from None
    for symbol in strategy.symbols:
        if symbol not in ctx.instruments:
            raise ConfigError(f"strategy.params: instrument '{symbol}' is not configured")
    return strategy
