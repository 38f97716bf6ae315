"""Notifications never slow trading: the same replay, once with healthy sinks and once with a
webhook that hangs for 30 s and a Telegram API that answers 429 (or 500) forever, places the
same orders at the same replay-clock times; the hung sink's full queue drops only
informational messages (counted), and the halt and the stop still reach a healthy sink — and
the failing ones, once they answer again.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from daemon import config, wiring
from daemon.app import Daemon
from daemon.clock import ReplayClock
from daemon.config_notify import ESSENTIAL
from daemon.notify import secrets as notify_secrets
from daemon.ops import log
from daemon.venues.replay import ReplaySource
from tests.support.chat_services import (
    TELEGRAM,
    TOKEN,
    ChatServices,
    notify_env,
    notify_section,
)
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.fills import record_fills

S = 10**9
# An order every bar: buy, then sell what is held. Fees and the swings lose a little each
# round trip, and the daily-loss breaker halts the replay part way through.
STRATEGY = """[strategy]
class = "tests.support.strategies:Alternate"
[strategy.params]
symbol = "BTC/USDT"
qty = "0.05"
[risk]
max_order_notional = "5000"
max_position_notional = "5000"
max_daily_loss = "25"
"""


@pytest.fixture
def services() -> Iterator[ChatServices]:
    with ChatServices(TOKEN) as s:
        yield s


@pytest.fixture(autouse=True)
def logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    log.configure("warning", stream=out, console=False, tap_level="info")
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def ticks() -> list[tuple[list[int], list[float], list[float]]]:
    ts = [i * S // 10 + S for i in range(1800)]  # 3 minutes of trades, 10 a second
    price = [60000 + 400 * math.sin(i / 37) + 90 * math.sin(i / 5) for i in range(1800)]
    return [(ts, price, [0.5] * len(ts))]


def replay(tmp_path: Path, services: ChatServices, notify: str = "") -> tuple[Any, list[Any],
                                                                                 int, float]:
    """Run the replay with webhooks `a` and `b` and Telegram; (daemon, fills, exit, wall s)."""
    text = IN_PROCESS_HEAD + STRATEGY + notify_section(services, hooks=("a", "b"),
                                                        notify=notify)
    cfg = config.parse(text, str(tmp_path))
    clock = ReplayClock()
    source = ReplaySource("BTC/USDT", ticks(), clock, batch_ticks=10)
    venue = wiring.paper_venue(cfg, wiring.strategy(cfg), clock, source)
    daemon = Daemon(wiring.build(cfg, wiring.strategy(cfg), venue,
                                 notify_secrets=notify_secrets.load(cfg, env=notify_env())))
    fills = record_fills(daemon.inventory)
    began = time.monotonic()
    code = asyncio.run(daemon.run())
    return daemon, fills, code, time.monotonic() - began


def order_times(fills: list[Any]) -> list[tuple[int, str, Decimal, Decimal]]:
    return [(f.ts_ns, f.side.value, f.qty, f.price) for f in fills]


def test_a_hung_or_refusing_sink_changes_no_order_and_loses_no_halt(
        tmp_path: Path, services: ChatServices) -> None:
    """Steps: (1) replay with every sink healthy: orders every bar until the daily-loss
    breaker halts; every message arrives. (2) The same replay with webhook `a` hanging 30 s
    per request and Telegram answering 429 forever, a queue of 4: the same fills at the same
    replay times, exit code the same, done in seconds (not 30 s a message); `a`'s queue
    dropped informational messages only, counted, and still holds the halt and the stop;
    webhook `b` got everything essential."""
    healthy, fills, code, _ = replay(tmp_path / "healthy", services, "queue_size = 4")
    assert code == 0 and len(fills) > 10
    assert healthy.supervisor.latched  # the breaker did halt: the halt is part of the test
    for sink in ("a", "b"):
        got = [r.fields["event"] for r in services.delivered(sink)]
        # Informational messages beyond the queue of 4 may give way even to a healthy sink.
        assert {"daemon.started", "order.filled", "trading.halted", "shutdown.complete"} <= set(
            got), got

    services.received.clear()
    services.set_mode("a", "hang")
    services.set_mode(TELEGRAM, "429")
    hung, hung_fills, hung_code, wall_s = replay(tmp_path / "hung", services, "queue_size = 4")
    assert order_times(hung_fills) == order_times(fills)
    assert hung_code == code
    # A blocking send would cost 30 s (or 4 x 0.5 s timeouts) per message, dozens of them.
    assert wall_s < 20, wall_s

    a = next(w for w in hung.notifier.workers if w.sink.name == "webhook0")
    pending = [m.event for m in a.outbox.pending()]
    assert {"trading.halted", "shutdown.complete"} <= set(pending), pending
    dropped = hung.metrics.registry.get_sample_value(
        "tradingd_notify_dropped_total", {"sink": "webhook", "reason": "queue_full"})
    assert dropped is not None and dropped > 0
    assert services.delivered("a") == []
    got_b = {r.fields["event"] for r in services.delivered("b")}
    assert {"trading.halted", "shutdown.complete"} <= got_b
    tg = hung.metrics.registry.get_sample_value("tradingd_notify_failed_total",
                                                {"sink": TELEGRAM})
    assert tg is not None and tg > 0


def test_halt_and_stop_reach_a_sink_that_failed_for_a_while(
        tmp_path: Path, services: ChatServices) -> None:
    """Steps: webhook `a` and Telegram answer 500 to their first 12 requests, then 200. The
    replay halts and ends; within the shutdown flush the halt and the stop still arrive at
    both, though informational messages before them were given up."""
    services.set_mode("a", "fail_then_ok:12")
    services.set_mode(TELEGRAM, "fail_then_ok:12")
    daemon, _, code, _ = replay(tmp_path, services, "shutdown_flush_s = 8")
    assert code == 0 and daemon.supervisor.latched
    got = [r.fields["event"] for r in services.delivered("a")]
    assert {"trading.halted", "shutdown.complete"} <= set(got), got
    texts = [str(r.fields.get("text")) for r in services.delivered(TELEGRAM)]
    assert any("trading HALTED" in t for t in texts)
    assert any("daemon stopped" in t for t in texts)
    assert all(m.event not in ESSENTIAL for w in daemon.notifier.workers
               for m in w.outbox.pending())
