"""The public L2 order book of one symbol, with Binance's update ids, and the liquidity it lends.

The book is what `GET /api/v3/depth` returns and what `<sym>@depth` diffs describe; both read
the same `last_update_id`, so a ccxt client syncing snapshot + diffs stays consistent. It is
written only by a market-data source (the random walk or the replay), never by user orders.

User orders take liquidity from it through a *consumption overlay*: a fill marks part of a
level as used until the source next rewrites that level. That way a second market order does
not get the same prices again, while the public feed (which a replay must forward byte for
byte) never has to describe the fake's own fills.
"""

from __future__ import annotations

from decimal import Decimal

from .markets import fmt

Level = tuple[Decimal, Decimal]


class Book:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id = 0
        self._used: dict[tuple[str, Decimal], Decimal] = {}

    # --- writes from market-data sources -------------------------------------------------
    def load_snapshot(self, bids: list[Level], asks: list[Level], last_update_id: int) -> None:
        self.bids = {p: q for p, q in bids if q > 0}
        self.asks = {p: q for p, q in asks if q > 0}
        self.last_update_id = last_update_id
        self._used.clear()

    def apply_diff(self, bids: list[Level], asks: list[Level], final_update_id: int) -> None:
        """Absolute level updates (qty 0 deletes), as in a `depthUpdate` event."""
        for side, levels, book in (("b", bids, self.bids), ("a", asks, self.asks)):
            for price, qty in levels:
                # the source rewrote this level: whatever users consumed there is refreshed
                self._used.pop((side, price), None)
                if qty > 0:
                    book[price] = qty
                else:
                    book.pop(price, None)
        self.last_update_id = final_update_id

    def diff_to(self, bids: list[Level], asks: list[Level]) -> tuple[list[Level], list[Level]]:
        """The level changes that turn this book into exactly `bids`/`asks`."""
        out: list[list[Level]] = []
        for current, target in ((self.bids, dict(bids)), (self.asks, dict(asks))):
            changes = [(p, q) for p, q in target.items() if current.get(p) != q]
            changes += [(p, Decimal(0)) for p in current if p not in target]
            out.append(sorted(changes))
        return out[0], out[1]

    # --- reads ---------------------------------------------------------------------------
    def sorted_bids(self) -> list[Level]:
        return sorted(self.bids.items(), key=lambda lv: lv[0], reverse=True)

    def sorted_asks(self) -> list[Level]:
        return sorted(self.asks.items(), key=lambda lv: lv[0])

    def best_bid(self) -> Level | None:
        return max(self.bids.items(), key=lambda lv: lv[0]) if self.bids else None

    def best_ask(self) -> Level | None:
        return min(self.asks.items(), key=lambda lv: lv[0]) if self.asks else None

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2

    def snapshot(self, limit: int) -> dict[str, object]:
        return {
            "lastUpdateId": self.last_update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in self.sorted_bids()[:limit]],
            "asks": [[fmt(p), fmt(q)] for p, q in self.sorted_asks()[:limit]],
        }

    # --- liquidity for the matching engine ------------------------------------------------
    def available(self, taker_side: str) -> list[Level]:
        """Levels a BUY (asks, cheapest first) or SELL (bids, dearest first) can take now."""
        side = "a" if taker_side == "BUY" else "b"
        levels = self.sorted_asks() if taker_side == "BUY" else self.sorted_bids()
        out = []
        for price, qty in levels:
            left = qty - self._used.get((side, price), Decimal(0))
            if left > 0:
                out.append((price, left))
        return out

    def consume(self, taker_side: str, price: Decimal, qty: Decimal) -> None:
        key = ("a" if taker_side == "BUY" else "b", price)
        self._used[key] = self._used.get(key, Decimal(0)) + qty
