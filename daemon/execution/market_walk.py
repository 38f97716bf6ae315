"""The market walk: on a replay clock, brings the books, the paper broker and the clock to each
tick where something can happen, so that a replay knows nothing of the future.

Live, the daemon has seen every trade of a batch when it acts on it. A replay batch holds
thousands of trades, and acting on one in the middle must not see the ones after it: not in the
marks (equity, so compounding sizes and the gate's notional checks), not in the touch a market
order fills at, not in the circuit breakers, and not in resting limits. So the signal task walks
the batch. It stops at each tick where a bar closes, and before it reads on, the walk looks
ahead for an earlier tick where a breaker could trip, a new UTC day starts or a resting limit
could fill (`next_stop`), and the task stops there too. At a stop (`to`) the clock, the touch,
the books' mark and the broker's position in the batch become that tick's.

Every tick between stops is one where, as screening has shown, no breaker can trip and no
order can fill: marking there would only have raised the equity peak, and `to` marks the
highest such tick first, so the peak is as if every tick had been marked. The result: the same
fills, fees, equity and halts whatever the batch size, at the cost of a few float comparisons
per bar: the range of a run's prices comes from reading them into the bar, not a second pass.
`exhaustive=True` stops and evaluates at every tick: the definition the fast path must equal,
which the property tests check it against.
"""

from __future__ import annotations

from typing import Protocol

from daemon.book.inventory import InventoryManager
from daemon.clock import SteppedClock
from daemon.model import TickBatch
from daemon.risk.breaker_screen import Screen
from daemon.risk.breakers import CircuitBreakers


class SteppedBroker(Protocol):
    """What the walk asks of a broker that fills against the replayed market (the paper one)."""

    def at_tick(self, symbol: str, index: int) -> None: ...

    def has_resting(self, symbol: str) -> bool: ...

    async def match_resting(self, symbol: str) -> None: ...

    def first_cross(self, batch: TickBatch, lo: int, hi: int, low: float,
                    high: float) -> int: ...

    async def fill_here(self, on: bool) -> None: ...


class MarketWalk:
    def __init__(self, inventory: InventoryManager, breakers: CircuitBreakers,
                 broker: SteppedBroker | None, clock: SteppedClock,
                 exhaustive: bool = False) -> None:
        self._inventory = inventory
        self._breakers = breakers
        self._broker = broker
        self._clock = clock
        self._exhaustive = exhaustive
        self._at = -1  # the tick of the current batch the books stand at
        self._alert = -1  # the tick `next_stop` found something may happen at
        self._screen: Screen | None = None  # the breakers' view of the run `next_stop` screened
        self._low = self._high = 0.0  # the price range of that run

    async def fill_here(self, on: bool) -> None:
        """While on, what is sent is worked at the tick the walk stands at, as at the end of
        the data: a breaker's flatten, which the walk waits for before it reads on."""
        if self._broker is not None:
            await self._broker.fill_here(on)

    def begin(self) -> None:
        """A new batch: the books stand before its first trade."""
        self._at = -1
        self._alert = -1

    def next_stop(self, batch: TickBatch, lo: int, hi: int, low: float, high: float) -> int:
        """The first tick in [lo, hi] where a breaker, a new day or a resting order needs a look;
        `hi` if none (`hi` is the next bar's closing tick, or the batch's length). [`low`,
        `high`] holds every price in [lo, hi), as reading them found (low > high: not known)."""
        if self._exhaustive:
            self._alert = lo
            self._screen = None
            return lo
        price = batch.price
        end = min(hi + 1, len(price))
        if low > high:
            if lo >= end:
                return hi
            run = price[lo:end]
            low, high = min(run), max(run)
        elif hi < end:
            p = price[hi]
            if p < low:
                low = p
            if p > high:
                high = p
        self._low, self._high = low, high
        screen = self._screen = self._breakers.screen(batch.symbol)
        stop = screen.first_alert(batch.ts_ns, price, lo, end, low, high)
        if self._broker is not None:
            stop = self._broker.first_cross(batch, lo, stop, low, high)
        if stop < end:
            self._alert = stop
            return stop
        self._alert = -1
        return hi

    async def to(self, batch: TickBatch, i: int) -> bool:
        """Bring everything to tick `i` of `batch`. True if a breaker or a resting order may
        have acted there: the caller lets that finish before it reads on."""
        if i <= self._at:
            return False
        symbol, price, ts_ns = batch.symbol, batch.price, batch.ts_ns
        inventory = self._inventory
        screen = self._screen
        peak = -1
        if screen is not None and screen.may_raise_peak_within(self._low, self._high):
            peak = screen.peak_tick(price, self._at + 1, i)
        if peak >= 0:
            self._clock.advance(ts_ns[peak], False)
            inventory.mark(symbol, price[peak], ts_ns[peak])
        self._at = i
        self._clock.advance(ts_ns[i], False)
        half = (batch.ask - batch.bid) / 2
        inventory.quote(symbol, price[i] - half, price[i] + half)
        look = i == self._alert or (screen is not None and screen.may_raise_peak(price[i]))
        inventory.mark(symbol, price[i], ts_ns[i], look)
        broker = self._broker
        if broker is None:
            return look
        broker.at_tick(symbol, i)
        if broker.has_resting(symbol):
            await broker.match_resting(symbol)
            return True
        return look
