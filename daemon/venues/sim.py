"""A simulated market: a seeded random walk of trades and a top of book, in real time.

Log price follows a Gaussian walk whose volatility per sqrt(hour) defaults to that of real
BTCUSDT 1h returns; each batch interval emits `ticks_per_s * interval` trades spread across the
interval, and a bid/ask `spread_bps` wide around the last trade. Same seed, same prices. For a
strategy that asks for an order book (`book_depth`), each batch carries one: levels a tick apart
outward from the bid and ask, with seeded sizes.

With `sim.pair` the dependent instrument is not a walk of its own: its trades are
`alpha + hedge_ratio * x + spread` at the independent's trades `x`, the spread a mean-reverting
(Ornstein-Uhlenbeck) process, so a pairs strategy has a known hedge ratio to find.

History (`bars`, a strategy's warm-up) is the same walk run at bar resolution over the bars
before the start, from a generator of its own (the live ticks do not change) and ending at the
instrument's `start_price`, where the live walk begins.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from decimal import Decimal

from daemon.clock import Clock
from daemon.config import InstrumentConfig, SimConfig, SimPairConfig
from daemon.model import Bar, BookSnapshot, TickBatch

NS = 1_000_000_000


class _Walk:
    __slots__ = ("log_price", "price_step", "trade_id")

    def __init__(self, inst: InstrumentConfig) -> None:
        self.log_price = math.log(float(inst.start_price))
        assert inst.price_increment is not None  # config requires the grid for the sim
        self.price_step = float(inst.price_increment)
        self.trade_id = 0


class _Pair:
    """The dependent's prices from the independent's, and the spread between them."""

    __slots__ = ("alpha", "beta", "cfg", "spread")

    def __init__(self, cfg: SimPairConfig, instruments: list[InstrumentConfig]) -> None:
        start = {i.symbol: float(i.start_price) for i in instruments}
        self.cfg = cfg
        self.beta = float(cfg.hedge_ratio)
        self.alpha = start[cfg.dependent] - self.beta * start[cfg.independent]
        self.spread = 0.0

    def steps(self, dt_s: float, y0: float) -> tuple[float, float]:
        """The spread's decay and shock size over `dt_s` seconds."""
        decay = 0.5 ** (dt_s / self.cfg.half_life_s)
        sigma = float(self.cfg.spread_vol_per_sqrt_hour) * y0 * math.sqrt(dt_s / 3600)
        return decay, sigma


class SimMarket:
    def __init__(self, instruments: list[InstrumentConfig], config: SimConfig,
                 batch_interval_ms: int, clock: Clock, book_depth: int = 0) -> None:
        self._instruments = instruments
        self._book_depth = book_depth
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._interval_ns = batch_interval_ms * 1_000_000
        self._ticks_per_batch = max(1, round(config.ticks_per_s * batch_interval_ms / 1000))
        dt_h = batch_interval_ms / 1000 / self._ticks_per_batch / 3600
        self._sigma = float(config.vol_per_sqrt_hour) * math.sqrt(dt_h)
        self._half_spread = float(config.spread_bps / Decimal(20_000))
        pair = config.pair
        self._pair = None if pair is None else _Pair(pair, instruments)
        # The independent leg first: the dependent's trades are made from its.
        order = sorted(instruments, key=lambda i: pair is not None and i.symbol == pair.dependent)
        self._walks = {i.symbol: _Walk(i) for i in order}
        self._last_prices: list[float] = []
        self._next_ns: int | None = None
        self._seed = config.seed
        self._vol_per_sqrt_hour = float(config.vol_per_sqrt_hour)

    @property
    def path(self) -> str:
        return "sim"

    async def close(self) -> None:
        return None

    async def run(self) -> None:
        return None

    def _start(self, symbol: str) -> float:
        return float(next(i for i in self._instruments if i.symbol == symbol).start_price)

    def history_closes(self, symbol: str, interval_s: int, count: int) -> list[float]:
        """`count + 1` closes a bar apart, the last at the start price (the dependent of a
        pair: from the independent's, with the spread's own mean-reverting past)."""
        rng = random.Random(f"{self._seed}:{symbol}:history")
        pair = self._pair
        if pair is not None and symbol == pair.cfg.dependent:
            xs = self.history_closes(pair.cfg.independent, interval_s, count)
            decay, shock = pair.steps(interval_s, self._start(symbol))
            spreads = [0.0]
            for _ in range(count):  # a stationary OU process reads the same backwards
                spreads.append(spreads[-1] * decay + rng.gauss(0.0, shock))
            spreads.reverse()
            return [pair.alpha + pair.beta * x + e for x, e in zip(xs, spreads, strict=True)]
        sigma = self._vol_per_sqrt_hour * math.sqrt(interval_s / 3600)
        logs = [math.log(self._start(symbol))]
        for _ in range(count):  # backwards from the start: a walk is the same either way
            logs.append(logs[-1] - rng.gauss(0.0, sigma))
        logs.reverse()
        return [math.exp(x) for x in logs]

    async def bars(self, symbol: str, interval_s: int, count: int, end_ns: int) -> list[Bar]:
        """`count` bars ending at `end_ns`, the last closing at the walk's start price."""
        inst = next(i for i in self._instruments if i.symbol == symbol)
        rng = random.Random(f"{self._seed}:{symbol}:wiggle")
        sigma = self._vol_per_sqrt_hour * math.sqrt(interval_s / 3600)
        step = float(inst.price_increment or 1)
        closes = self.history_closes(symbol, interval_s, count)
        interval_ns = interval_s * NS
        out = []
        for k in range(count):
            o, c = (round(x / step) * step for x in closes[k:k + 2])
            wiggle = abs(rng.gauss(0.0, sigma / 2))
            start = end_ns - (count - k) * interval_ns
            out.append(Bar(symbol, start, start + interval_ns, o, max(o, c) * math.exp(wiggle),
                           min(o, c) * math.exp(-wiggle), c, 0.0, 0))
        return out

    async def stream(self) -> AsyncIterator[TickBatch]:
        if self._next_ns is None:
            self._next_ns = self._clock.monotonic_ns()
        while True:
            # Sleep to an absolute schedule so batches do not drift later and later.
            delay_ns = self._next_ns - self._clock.monotonic_ns()
            if delay_ns > 0:
                await self._clock.sleep(delay_ns / NS)
            self._next_ns += self._interval_ns
            now = self._clock.now_ns()
            for symbol, walk in self._walks.items():
                yield self._batch(symbol, walk, now)

    def _batch(self, symbol: str, walk: _Walk, now_ns: int) -> TickBatch:
        n = self._ticks_per_batch
        spacing = self._interval_ns // n
        start = now_ns - self._interval_ns
        gauss, uniform = self._rng.gauss, self._rng.random
        ts = [start + (k + 1) * spacing for k in range(n)]
        prices = [0.0] * n
        sizes = [0.0] * n
        price = 0.0
        pair = self._pair
        dependent = pair is not None and symbol == pair.cfg.dependent
        if dependent:
            assert pair is not None
            decay, shock = pair.steps(self._interval_ns / n / NS, self._start(symbol))
        for k in range(n):
            if dependent:
                assert pair is not None
                pair.spread = pair.spread * decay + gauss(0.0, shock)
                raw = pair.alpha + pair.beta * self._last_prices[k] + pair.spread
            else:
                walk.log_price += gauss(0.0, self._sigma)
                raw = math.exp(walk.log_price)
            price = round(round(raw / walk.price_step) * walk.price_step, 10)
            walk.trade_id += 1
            prices[k] = price
            sizes[k] = round(0.001 + uniform() * 0.05, 5)
        if pair is not None and symbol == pair.cfg.independent:
            self._last_prices = prices
        half = max(price * self._half_spread, walk.price_step)
        bid = round(math.floor((price - half) / walk.price_step) * walk.price_step, 10)
        ask = round(math.ceil((price + half) / walk.price_step) * walk.price_step, 10)
        book = self._book(bid, ask, walk.price_step, now_ns) if self._book_depth else None
        return TickBatch(symbol, ts, prices, sizes, bid, ask, now_ns, book=book)

    def _book(self, bid: float, ask: float, step: float, now_ns: int) -> BookSnapshot:
        uniform = self._rng.random
        levels = range(self._book_depth)
        return BookSnapshot(
            now_ns,
            [(round(bid - k * step, 10), round(0.01 + uniform() * 0.5, 5)) for k in levels],
            [(round(ask + k * step, 10), round(0.01 + uniform() * 0.5, 5)) for k in levels])
