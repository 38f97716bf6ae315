"""What the paper broker's fills cost against the market when each order was sent.

Slippage is measured from the mid at the moment the strategy sent the order, so it holds
everything the fill model charges: the latency (the market moved meanwhile), the spread, the
size-dependent impact, and the price a partial fill got later. A maker filled at its limit below
that mid shows as negative slippage (price improvement). Exact: `Decimal` throughout.
"""

from __future__ import annotations

from decimal import Decimal

from daemon.model import Side

ZERO = Decimal(0)


class ExecutionStats:
    def __init__(self) -> None:
        self.slippage_paid = ZERO  # quote: sum of (fill - mid) * qty, signed against us
        self.notional = ZERO
        self.filled_qty = ZERO
        self.maker_fills = 0
        self.taker_fills = 0

    def record(self, side: Side, qty: Decimal, price: Decimal, mid: Decimal,
               maker: bool) -> None:
        move = price - mid if side is Side.BUY else mid - price
        self.slippage_paid += move * qty
        self.notional += qty * price
        self.filled_qty += qty
        if maker:
            self.maker_fills += 1
        else:
            self.taker_fills += 1

    def summary(self) -> dict[str, float | int]:
        bps = float(self.slippage_paid / self.notional * 10_000) if self.notional else 0.0
        return {"slippage_paid": float(self.slippage_paid), "slippage_bps": bps,
                "filled_qty": float(self.filled_qty), "maker_fills": self.maker_fills,
                "taker_fills": self.taker_fills}
