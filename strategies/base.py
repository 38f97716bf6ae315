"""The strategy API: what a strategy sees and what it may return.

A strategy is named in config by import path (`module:Class`) with its own `[strategy.params]`
table, decoded into the class's `Params` struct (unknown keys rejected, errors name
`strategy.params.<key>`). It sees closed bars (and optionally tick batches) and a read-only
`InventoryView`, and returns `OrderIntent`s. It never sees the broker: intents go to the risk gate.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import msgspec

from daemon.book.inventory import InventoryView
from daemon.config import ConfigError, convert
from daemon.model import Bar, Instrument, OrderIntent, TickBatch

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

    def on_bar(self, bar: Bar, view: InventoryView) -> Sequence[OrderIntent]:
        return ()

    def on_ticks(self, batch: TickBatch, view: InventoryView) -> Sequence[OrderIntent]:
        return ()


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
