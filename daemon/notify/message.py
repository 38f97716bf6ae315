"""A message: one event worth telling someone, as JSON-safe fields and as a line of text.

Made from the log record of the same event (`from_record`), so a message says what the log
line says, with the same name. Decimals become strings (exact, as in the log); anything that
is not JSON-shaped becomes its `str`. The text is what a chat shows; the JSON is what a webhook
receiver parses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from daemon.config_notify import ESSENTIAL, Level

# Record keys that describe the log line, not the event.
_SKIP = frozenset({"event", "level", "ts", "timestamp", "task", "exc_info", "logger"})


@dataclass(frozen=True, slots=True)
class Message:
    event: str
    level: Level
    ts_ns: int
    fields: dict[str, Any]
    png: bytes | None = field(default=None, repr=False)  # the daily summary's equity chart

    @property
    def essential(self) -> bool:
        return self.event in ESSENTIAL

    def payload(self) -> dict[str, Any]:
        """The JSON document: `event` is the log event's name."""
        return {"event": self.event, "level": self.level.name.lower(), "ts_ns": self.ts_ns,
                "text": render(self), **self.fields}


def _safe(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(v) for v in value]
    return str(value)


def from_record(record: Mapping[str, Any], level: Level, ts_ns: int) -> Message:
    fields = {k: _safe(v) for k, v in record.items() if k not in _SKIP}
    return Message(str(record["event"]), level, ts_ns, fields)


def group_fills(fills: list[Message]) -> Message:
    """Fills within the grouping window as one `order.filled` message with a `fills` list."""
    if len(fills) == 1:
        return fills[0]
    return Message("order.filled", max(m.level for m in fills), fills[-1].ts_ns,
                   {"count": len(fills), "fills": [m.fields for m in fills]})


def _fill_line(f: Mapping[str, Any]) -> str:
    return (f"{f.get('side', '?')} {f.get('qty', '?')} {f.get('symbol', '?')} @ "
            f"{f.get('price', '?')}, fee {f.get('fee', '?')}, position {f.get('position', '?')}")


def _kv(fields: Mapping[str, Any], *names: str) -> str:
    return ", ".join(f"{n} {fields[n]}" for n in names if fields.get(n) not in (None, ""))


def render(m: Message) -> str:
    """One short text for a chat: what happened first, then the numbers."""
    f = m.fields
    tag = {Level.INFO: "", Level.WARNING: "⚠️ ", Level.CRITICAL: "🛑 "}[m.level]
    match m.event:
        case "order.filled" if "fills" in f:
            body = f"{f['count']} fills:\n" + "\n".join(_fill_line(x) for x in f["fills"])
        case "order.filled":
            body = "filled: " + _fill_line(f)
        case "order.rejected":
            body = f"order rejected: {_kv(f, 'client_order_id', 'reason', 'message')}"
        case "trading.halted":
            body = (f"trading HALTED by {f.get('breaker')} ({f.get('source')}): "
                    f"{f.get('detail')}")
        case "trading.resumed":
            body = f"trading resumed by {f.get('source')}: {_kv(f, 'previous_state', 'equity')}"
        case "flatten.started":
            body = f"flatten started: {_kv(f, 'reason', 'cancel_requests', 'timeout_s')}"
        case "flatten.done":
            body = f"flatten done: {_kv(f, 'reason', 'state')}"
        case "flatten.incomplete":
            body = f"flatten INCOMPLETE: {_kv(f, 'reason', 'positions', 'working_orders')}"
        case "daemon.started":
            body = f"daemon started: {_kv(f, 'mode', 'venue', 'strategy', 'equity', 'state')}"
        case "shutdown.complete":
            flat = "flat" if f.get("flat") else "NOT FLAT"
            body = (f"daemon stopped, {flat}, exit code {f.get('exit_code')}: "
                    f"{_kv(f, 'positions', 'equity', 'crashed')}")
        case "task.crashed":
            body = f"daemon CRASHED: {f.get('error')}"
        case "market_data.stale":
            body = f"market data stale: {_kv(f, 'symbol', 'age_s')}"
        case "summary.daily":
            body = "daily summary: " + _kv(f, "date", "equity", "pnl", "realized_pnl", "fees",
                                           "trades", "drawdown_ratio")
        case _:
            body = f"{m.event}: {_kv(f, *f)}"
    return tag + body
