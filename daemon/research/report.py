"""The backtest report: `metrics.json`, `trades.csv`, `fills.csv`, `equity.csv`, a
self-contained `report.html` (plotly, its JavaScript inlined: it opens with no network) and
`equity.png` (matplotlib) for a terminal or a chat message.

Input is what a backtest produced: the fills, the bars the strategy traded on, the starting
cash; on swaps also the funding settled and any liquidation (the paper account's,
`venues.paper_margin`): `funding` (signed: < 0 paid), `funding_paid`, `funding_received`
and `liquidations` (time, prices, loss) in `metrics.json`, `liquidations.csv`, and the
funding in the equity. Everything shown is computed here from those, in `Decimal` for money
and floats for statistics (`daemon.research.metrics`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon.events import FundingPaid
from daemon.model import Fill, Side
from daemon.research import metrics
from daemon.research.trades import RoundTrip, equity_per_bar, round_trips
from daemon.venues.paper_margin import Liquidation


@dataclass(frozen=True)
class Backtest:
    fills: list[Fill]
    bar_end_ns: list[int]
    bar_close: list[float]
    bar_interval_s: int
    starting_cash: Decimal
    risk_free_rate: float = 0.0
    funding: Sequence[FundingPaid] = ()
    liquidations: Sequence[Liquidation] = ()
    execution: dict[str, Any] | None = None  # the fill model and what the fills cost


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def figures(bt: Backtest) -> tuple[dict[str, Any], list[Decimal], list[RoundTrip]]:
    equity = equity_per_bar(bt.fills, bt.bar_end_ns, bt.bar_close, bt.starting_cash,
                            [(f.ts_ns, f.amount) for f in bt.funding])
    times_s = [t / 1e9 for t in bt.bar_end_ns]
    eq = [float(e) for e in equity]
    out: dict[str, Any] = metrics.summary(times_s, eq, bt.bar_interval_s, bt.risk_free_rate)
    trips = round_trips(bt.fills)
    wins = [t.pnl for t in trips if t.pnl > 0]
    losses = [t.pnl for t in trips if t.pnl <= 0]
    fees = sum((f.fee_quote for f in bt.fills), Decimal(0))
    hold = metrics.summary(times_s, [c / bt.bar_close[0] * float(bt.starting_cash)
                                     for c in bt.bar_close], bt.bar_interval_s,
                           bt.risk_free_rate)
    out.update({
        "trades": len(trips),
        "win_rate": len(wins) / len(trips) if trips else math.nan,
        "profit_factor": float(sum(wins) / -sum(losses)) if sum(losses) < 0 else math.nan,
        "expectancy": float(sum(t.pnl for t in trips) / len(trips)) if trips else math.nan,
        "average_win": float(sum(wins) / len(wins)) if wins else math.nan,
        "average_loss": float(sum(losses) / len(losses)) if losses else math.nan,
        "exposure": _exposure(trips, bt),
        "turnover": float(sum((f.qty * f.price for f in bt.fills), Decimal(0))
                          / bt.starting_cash),
        "fees": float(fees),
        "final_equity": float(equity[-1]) if equity else float(bt.starting_cash),
        "periods_per_year": metrics.periods_per_year(bt.bar_interval_s),
        "risk_free_rate": bt.risk_free_rate,
        "buy_and_hold": hold,
        **_swap_figures(bt),
    })
    if bt.execution is not None:
        out["execution"] = bt.execution
    return out, equity, trips


def _swap_figures(bt: Backtest) -> dict[str, Any]:
    """Funding and liquidations; money as exact decimal strings in the liquidation records."""
    amounts = [f.amount for f in bt.funding]
    return {
        "funding": float(sum(amounts, Decimal(0))),
        "funding_paid": float(-sum((a for a in amounts if a < 0), Decimal(0))),
        "funding_received": float(sum((a for a in amounts if a > 0), Decimal(0))),
        "liquidations": [_liquidation(x) for x in bt.liquidations],
    }


def _liquidation(x: Liquidation) -> dict[str, str]:
    return {"time": iso(x.ts_ns), "symbol": x.symbol,
            "position": "long" if x.side is Side.SELL else "short", "qty": str(x.qty),
            "trigger_price": str(x.trigger_price),
            "liquidation_price": str(x.liquidation_price), "fill_price": str(x.fill_price),
            "loss": str(x.loss)}


def _exposure(trips: Sequence[RoundTrip], bt: Backtest) -> float:
    """The share of the backtest's time a position was open."""
    if len(bt.bar_end_ns) < 2:
        return 0.0
    span = bt.bar_end_ns[-1] - bt.bar_end_ns[0] + bt.bar_interval_s * 10**9
    return min(1.0, sum(t.exit_ns - t.entry_ns for t in trips) / span)


def write(bt: Backtest, out: Path) -> dict[str, Any]:
    """Write every file of the report into `out`; return the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    figs, equity, trips = figures(bt)
    (out / "metrics.json").write_text(json.dumps(figs, indent=2, allow_nan=True) + "\n")
    _csv(out / "equity.csv", ["time", "equity"],
         ([iso(t), str(e)] for t, e in zip(bt.bar_end_ns, equity, strict=True)))
    _csv(out / "fills.csv", ["time", "client_order_id", "trade_id", "side", "qty", "price",
                             "fee"],
         ([iso(f.ts_ns), f.client_order_id, f.trade_id, f.side.value, str(f.qty),
           str(f.price), str(f.fee_quote)] for f in bt.fills))
    _csv(out / "trades.csv", ["entry_time", "exit_time", "side", "qty", "entry_price",
                              "exit_price", "pnl", "fees"],
         ([iso(t.entry_ns), iso(t.exit_ns), "long" if t.side is Side.BUY else "short",
           str(t.qty), str(t.entry_price), str(t.exit_price), str(t.pnl), str(t.fees)]
          for t in trips))
    _csv(out / "liquidations.csv", ["time", "symbol", "position", "qty", "trigger_price",
                                    "liquidation_price", "fill_price", "loss"],
         (list(_liquidation(x).values()) for x in bt.liquidations))
    from daemon.research import charts  # plotly and matplotlib: only when a report is written

    charts.html(out / "report.html", bt, figs, equity, trips)
    charts.png(out / "equity.png", bt, equity)
    return figs


def _csv(path: Path, header: list[str], rows: Any) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
