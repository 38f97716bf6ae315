"""What the fake exchange and the daemon's journal say about our orders, for restart tests.

The exchange is the authority: a position derived from its trades of our orders is what the
daemon's books must equal, and its trades are what the journal must hold, each exactly once.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fake_exchange import FakeBinanceThread

PREFIX = "td-"
ZERO = Decimal(0)


def our_orders(fx: FakeBinanceThread, prefix: str = PREFIX) -> list[dict[str, Any]]:
    return [o for o in fx.call(lambda f: f.orders())
            if str(o.get("clientOrderId", "")).startswith(prefix)]


def our_trades(fx: FakeBinanceThread, exclude_prefix: str | None = None
               ) -> list[dict[str, Any]]:
    """Trades of orders with our prefix (optionally not those of one run)."""
    orders = {o["orderId"]: o for o in our_orders(fx)
              if not (exclude_prefix and o["clientOrderId"].startswith(exclude_prefix))}
    return [t for t in fx.call(lambda f: f.trades()) if t["orderId"] in orders]


def venue_position(trades: list[dict[str, Any]], base: str = "BTC") -> Decimal:
    """Base bought minus base sold minus base paid as fees: what our own orders left us."""
    pos = ZERO
    for t in trades:
        qty = Decimal(str(t["qty"]))
        pos += qty if t["isBuyer"] else -qty
        if t["commissionAsset"] == base:
            pos -= Decimal(str(t["commission"]))
    return pos


def venue_base(fx: FakeBinanceThread, asset: str = "BTC") -> Decimal:
    bal = fx.call(lambda f: f.balances())[asset]
    return Decimal(bal["free"]) + Decimal(bal["locked"])


class JournalFile:
    """Read-only view of a daemon's journal (only read it while no daemon runs)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "journal.sqlite3"

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def trade_ids(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT trade_id FROM fills ORDER BY rowid")]

    def position(self) -> Decimal:
        pos = ZERO
        for side, qty, fee_base in self._rows("SELECT side, qty, fee_base FROM fills"):
            pos += (Decimal(qty) if side == "buy" else -Decimal(qty)) - Decimal(fee_base)
        return pos

    def orders(self) -> dict[str, tuple[str, Decimal, bool]]:
        """client id -> (state, filled qty, settled)."""
        return {r[0]: (r[1], Decimal(r[2]), bool(r[3])) for r in self._rows(
            "SELECT client_order_id, state, filled_qty, settled FROM orders")}
