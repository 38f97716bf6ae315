"""Replay of a real Binance websocket capture into a `Market`, payloads forwarded byte for byte.

Capture format (hftbacktest): one message per line, `<local_recv_ns> <json>`, where the JSON
is a combined-stream envelope `{"stream":"btcusdt@trade","data":{...}}` or, once, a REST depth
snapshot `{"lastUpdateId":...}`. The `data` part is cut out of the line as text (and checked
against a JSON parse), so subscribers receive exactly the bytes Binance sent; the ws layer
re-wraps them only for clients on the combined `/stream` endpoint.

The snapshot seeds the `Book`; each depth diff after it is applied with its own U/u ids, so
`GET /api/v3/depth` always matches the diffs that follow it. Trades go on the tape, and after
every diff the engine gets to match resting orders against the moved book.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .marketdata import Market, PublicTrade

DEFAULT_CAPTURE = (
    Path(__file__).resolve().parent.parent / "data"
    / "binance_spot_BTCUSDT_ws_raw_2024-08-08T2354Z_first60s.gz"
)


@dataclass(frozen=True)
class Message:
    recv_ns: int
    stream: str  # "" for the REST snapshot line
    raw: str  # the payload exactly as captured
    data: dict[str, object]


@functools.lru_cache(maxsize=4)
def load_capture(path: Path) -> tuple[tuple[Message, ...], Message | None]:
    """All stream messages in capture order, and the (first) REST snapshot line, if any.

    Cached: parsing and checking every line costs ~0.3 s and tests replay the same slice."""
    messages: list[Message] = []
    snapshot: Message | None = None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            ts, _, text = line.rstrip("\n").partition(" ")
            parsed = json.loads(text)
            if "lastUpdateId" in parsed:
                if snapshot is None:
                    snapshot = Message(int(ts), "", text, parsed)
                continue
            stream = parsed["stream"]
            prefix = '{"stream":' + json.dumps(stream) + ',"data":'
            if not (text.startswith(prefix) and text.endswith("}")):
                raise ValueError(f"unexpected envelope layout: {text[:80]}")
            raw = text[len(prefix):-1]
            if json.loads(raw) != parsed["data"]:
                raise ValueError(f"payload cut does not round-trip: {text[:80]}")
            messages.append(Message(int(ts), stream, raw, parsed["data"]))
    return tuple(messages), snapshot


def _levels(rows: object) -> list[tuple[Decimal, Decimal]]:
    assert isinstance(rows, list)
    return [(Decimal(p), Decimal(q)) for p, q in rows]


class Replay:
    def __init__(self, market: Market, on_book_change: Callable[[str], None],
                 path: Path = DEFAULT_CAPTURE) -> None:
        self.market = market
        self.on_book_change = on_book_change
        self.messages, snapshot = load_capture(path)
        if snapshot is None:
            raise ValueError(f"{path} has no REST depth snapshot to seed the book")
        d = snapshot.data
        market.book.load_snapshot(_levels(d["bids"]), _levels(d["asks"]),
                                  int(str(d["lastUpdateId"])))
        self.pos = 0
        self.trades_sent = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.messages)

    def advance(self, n: int = 1) -> int:
        """Forward the next `n` messages; returns how many were actually left to send."""
        sent = 0
        while sent < n and not self.done:
            self._send(self.messages[self.pos])
            self.pos += 1
            sent += 1
        return sent

    def advance_trades(self, n: int) -> int:
        """Forward messages until `n` more trades went out (or the capture ends)."""
        target = self.trades_sent + n
        while self.trades_sent < target and not self.done:
            self.advance(1)
        return n - (target - self.trades_sent)

    def _send(self, msg: Message) -> None:
        d = msg.data
        if msg.stream.endswith("@trade"):
            self.trades_sent += 1
            self.market.record_trade(PublicTrade(
                int(str(d["t"])), Decimal(str(d["p"])), Decimal(str(d["q"])), int(str(d["T"])),
                bool(d["m"])), raw=msg.raw)
            return
        self.market.publish(msg.stream, msg.raw)
        if msg.stream.split("@", 1)[1].startswith("depth"):
            book = self.market.book
            if int(str(d["u"])) > book.last_update_id:
                book.apply_diff(_levels(d["b"]), _levels(d["a"]), int(str(d["u"])))
                self.on_book_change(self.market.spec.symbol)

    async def run(self, speed: float = 1.0) -> None:
        """Forward the capture in real time divided by `speed` (background use only)."""
        while not self.done:
            prev = self.messages[self.pos].recv_ns
            self.advance(1)
            if not self.done and speed > 0:
                await asyncio.sleep((self.messages[self.pos].recv_ns - prev) / 1e9 / speed)
            else:
                await asyncio.sleep(0)
