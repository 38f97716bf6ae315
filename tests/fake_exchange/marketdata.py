"""Public market data per symbol: the trade tape, the public stream payloads, the random walk.

`Market` owns one symbol's public state (its `Book`, its `Tape` of public trades) and renders
the raw payloads of the public streams (`@trade`, `@aggTrade`, `@bookTicker`, `@depth@100ms`,
`@ticker`). `RandomWalk` is the synthetic source: a seeded walk of the mid that rebuilds a
ladder of levels around it on every `step()`, so the same seed always yields the same book,
diffs and trades. (`replay.py` is the other source.)
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from .book import Book, Level
from .engine import IdSequence
from .markets import SymbolSpec, fmt

Publish = Callable[[str, str], None]  # (stream name, raw JSON payload)


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class PublicTrade:
    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool


class Tape:
    """Recent public trades: what REST trades/aggTrades/klines/24hr and `@ticker` report."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self.trades: deque[PublicTrade] = deque(maxlen=maxlen)

    def select(self, from_id: int | None, start: int | None, end: int | None,
               limit: int) -> list[PublicTrade]:
        rows = list(self.trades)
        if from_id is not None:
            return [t for t in rows if t.trade_id >= from_id][:limit]
        if start is not None or end is not None:
            rows = [t for t in rows if (start is None or t.time >= start)
                    and (end is None or t.time <= end)]
            return rows[:limit]
        return rows[-limit:]

    def klines(self, interval_ms: int, start: int | None, end: int | None,
               limit: int) -> list[list[object]]:
        """Candles from the tape; buckets without trades are skipped (Binance would flat-fill)."""
        buckets: dict[int, list[PublicTrade]] = {}
        for t in self.trades:
            if (start is None or t.time >= start) and (end is None or t.time <= end):
                buckets.setdefault(t.time - t.time % interval_ms, []).append(t)
        out: list[list[object]] = []
        for open_time in sorted(buckets):
            ts = buckets[open_time]
            vol = sum((t.qty for t in ts), Decimal(0))
            qvol = sum((t.qty * t.price for t in ts), Decimal(0))
            tb = sum((t.qty for t in ts if not t.buyer_maker), Decimal(0))
            tq = sum((t.qty * t.price for t in ts if not t.buyer_maker), Decimal(0))
            out.append([
                open_time, fmt(ts[0].price), fmt(max(t.price for t in ts)),
                fmt(min(t.price for t in ts)), fmt(ts[-1].price), fmt(vol),
                open_time + interval_ms - 1, fmt(qvol), len(ts), fmt(tb), fmt(tq), "0",
            ])
        return out[:limit] if start is not None else out[-limit:]


class Market:
    """One symbol's public side: book + tape, and the payloads of its public streams."""

    def __init__(self, spec: SymbolSpec, publish: Publish, clock: Callable[[], int]) -> None:
        self.spec = spec
        self.book = Book(spec.symbol)
        self.tape = Tape()
        self.publish = publish
        self.clock = clock
        self.stream = spec.symbol.lower()

    def record_trade(self, trade: PublicTrade, raw: str | None = None) -> None:
        """Put a trade on the tape and the `@trade`/`@aggTrade` streams (`raw`: replayed bytes)."""
        self.tape.trades.append(trade)
        now = self.clock()
        self.publish(f"{self.stream}@trade", raw if raw is not None else dumps({
            "e": "trade", "E": now, "s": self.spec.symbol, "t": trade.trade_id,
            "p": fmt(trade.price), "q": fmt(trade.qty), "T": trade.time,
            "m": trade.buyer_maker, "M": True,
        }))
        # one aggTrade per trade: the fake never has several fills at one price and instant
        self.publish(f"{self.stream}@aggTrade", dumps({
            "e": "aggTrade", "E": now, "s": self.spec.symbol, "a": trade.trade_id,
            "p": fmt(trade.price), "q": fmt(trade.qty), "f": trade.trade_id,
            "l": trade.trade_id, "T": trade.time, "m": trade.buyer_maker, "M": True,
        }))
        ticker = self.ticker_event()
        self.publish(f"{self.stream}@ticker", dumps(ticker))
        mini = {k: ticker[k] for k in ("E", "s", "c", "o", "h", "l", "v", "q")}
        self.publish(f"{self.stream}@miniTicker", dumps({"e": "24hrMiniTicker", **mini}))

    def publish_diff(self, bids: list[Level], asks: list[Level]) -> None:
        """Apply level changes with fresh update ids and publish them as a depthUpdate."""
        n = len(bids) + len(asks)
        if n == 0:
            return
        first = self.book.last_update_id + 1
        self.book.apply_diff(bids, asks, self.book.last_update_id + n)
        self.publish(f"{self.stream}@depth@100ms", dumps({
            "e": "depthUpdate", "E": self.clock(), "s": self.spec.symbol,
            "U": first, "u": self.book.last_update_id,
            "b": [[fmt(p), fmt(q)] for p, q in bids], "a": [[fmt(p), fmt(q)] for p, q in asks],
        }))
        self.publish(f"{self.stream}@bookTicker", dumps(self.book_ticker()))

    def book_ticker(self) -> dict[str, object]:
        bid = self.book.best_bid() or (Decimal(0), Decimal(0))
        ask = self.book.best_ask() or (Decimal(0), Decimal(0))
        return {"u": self.book.last_update_id, "s": self.spec.symbol, "b": fmt(bid[0]),
                "B": fmt(bid[1]), "a": fmt(ask[0]), "A": fmt(ask[1])}

    def stats(self) -> dict[str, object]:
        """The 24hr rolling statistics in REST `ticker/24hr` field names."""
        now = self.clock()
        # the window ends at the newest trade, not at "now": replayed trades carry 2024 times
        newest = self.tape.trades[-1].time if self.tape.trades else now
        trades = [t for t in self.tape.trades if t.time >= newest - 86_400_000]
        bid = self.book.best_bid() or (Decimal(0), Decimal(0))
        ask = self.book.best_ask() or (Decimal(0), Decimal(0))
        last = trades[-1].price if trades else (self.book.mid() or self.spec.start_mid)
        first = trades[0].price if trades else last
        vol = sum((t.qty for t in trades), Decimal(0))
        qvol = sum((t.qty * t.price for t in trades), Decimal(0))
        change = last - first
        return {
            "symbol": self.spec.symbol, "priceChange": fmt(change),
            "priceChangePercent": f"{(change / first * 100 if first else 0):.3f}",
            "weightedAvgPrice": fmt(qvol / vol if vol else last), "prevClosePrice": fmt(first),
            "lastPrice": fmt(last), "lastQty": fmt(trades[-1].qty if trades else Decimal(0)),
            "bidPrice": fmt(bid[0]), "bidQty": fmt(bid[1]),
            "askPrice": fmt(ask[0]), "askQty": fmt(ask[1]), "openPrice": fmt(first),
            "highPrice": fmt(max((t.price for t in trades), default=last)),
            "lowPrice": fmt(min((t.price for t in trades), default=last)),
            "volume": fmt(vol), "quoteVolume": fmt(qvol),
            "openTime": trades[0].time if trades else now - 86_400_000, "closeTime": now,
            "firstId": trades[0].trade_id if trades else -1,
            "lastId": trades[-1].trade_id if trades else -1, "count": len(trades),
        }

    def ticker_event(self) -> dict[str, object]:
        s = self.stats()
        return {
            "e": "24hrTicker", "E": self.clock(), "s": s["symbol"], "p": s["priceChange"],
            "P": s["priceChangePercent"], "w": s["weightedAvgPrice"], "x": s["prevClosePrice"],
            "c": s["lastPrice"], "Q": s["lastQty"], "b": s["bidPrice"], "B": s["bidQty"],
            "a": s["askPrice"], "A": s["askQty"], "o": s["openPrice"], "h": s["highPrice"],
            "l": s["lowPrice"], "v": s["volume"], "q": s["quoteVolume"], "O": s["openTime"],
            "C": s["closeTime"], "F": s["firstId"], "L": s["lastId"], "n": s["count"],
        }


class RandomWalk:
    """Seeded synthetic source for one `Market`: a ladder of `levels` levels around a mid.

    Best bid/ask are one tick apart around the mid; further levels are `spacing` apart and
    each holds `spec.level_qty`, so a test can compute exactly what an order will take.
    """

    def __init__(self, market: Market, rng: random.Random, trade_ids: IdSequence,
                 levels: int = 10, spacing_ticks: int = 100, vol_bp: Decimal = Decimal(2),
                 trades_per_step: int = 1) -> None:
        self.market, self.rng, self.trade_ids = market, rng, trade_ids
        self.levels, self.vol_bp, self.trades_per_step = levels, vol_bp, trades_per_step
        self.spacing = market.spec.tick_size * spacing_ticks
        self.mid = market.spec.start_mid
        self._ladder()

    def _ladder(self) -> None:
        spec = self.market.spec
        best_bid = (self.mid / spec.tick_size).to_integral_value(ROUND_DOWN) * spec.tick_size
        if best_bid == self.mid:
            best_bid -= spec.tick_size
        best_ask = best_bid + spec.tick_size
        bids = [(best_bid - i * self.spacing, spec.level_qty) for i in range(self.levels)]
        asks = [(best_ask + i * self.spacing, spec.level_qty) for i in range(self.levels)]
        self.market.publish_diff(*self.market.book.diff_to(bids, asks))

    def set_mid(self, mid: Decimal) -> None:
        self.mid = mid
        self._ladder()

    def step(self) -> None:
        spec = self.market.spec
        move = Decimal(repr(self.rng.gauss(0.0, 1.0))) * self.vol_bp / 10_000 * self.mid
        self.mid = max(spec.round_price(self.mid + move), spec.tick_size * 2)
        self._ladder()
        for _ in range(self.trades_per_step):
            buyer_maker = self.rng.random() < 0.5
            bid, ask = self.market.book.best_bid(), self.market.book.best_ask()
            level = bid if buyer_maker else ask
            if level is None:
                continue
            qty = spec.step_size * self.rng.randint(1, 5000)
            self.market.record_trade(PublicTrade(self.trade_ids.next(), level[0], qty,
                                                 self.market.clock(), buyer_maker))
