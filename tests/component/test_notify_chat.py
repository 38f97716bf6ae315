"""A paper daemon on the simulated market with a signed webhook and Telegram, both local fakes
at their wire protocol: the events arrive with the right content, the signature verifies, and
chat commands drive the supervisor like SIGUSR1 and the control API do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from daemon import config, wiring
from daemon.model import TradingState
from daemon.notify import secrets as notify_secrets
from daemon.ops import log
from tests.support.chat_services import (
    CHAT_ID,
    HMAC_KEY,
    TOKEN,
    USER_ID,
    ChatServices,
    Received,
    notify_env,
    notify_section,
)
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.in_process import paper_daemon
from tests.support.wait import eventually_async

# The touch fill model: one whole fill, one `order.filled` message (the market model's partial
# fills would come grouped).
STRATEGY = """[paper]
fill_model = "touch"
[strategy]
class = "tests.support.strategies:BuyOnce"
[strategy.params]
symbol = "BTC/USDT"
qty = "0.01"
[risk]
max_order_notional = "5000"
max_position_notional = "5000"
"""


@pytest.fixture
def services() -> Iterator[ChatServices]:
    with ChatServices(TOKEN) as s:
        yield s


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The daemon's log at warning, as the in-process configs set it, with the notifier's
    taps fed from info: what `tradingd run` does when `[notify]` has sinks."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    log.configure("warning", stream=out, console=False, tap_level="info")
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def signed(r: Received) -> bool:
    """The receiver's check, written from the README's description: HMAC-SHA256 of the raw
    body under the shared key, hex, after `sha256=`."""
    want = "sha256=" + hmac.new(HMAC_KEY.encode(), r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(r.headers.get("X-Tradingd-Signature", ""), want)


@pytest.mark.asyncio
async def test_events_arrive_signed_and_chat_commands_drive_the_supervisor(
        tmp_path: Path, services: ChatServices, logs: io.StringIO) -> None:
    """Steps: (1) start: `daemon.started` arrives; (2) the strategy buys: `order.filled` with
    price, quantity, fee and the position after; (3) `/halt` from another chat, and from the
    right chat but a user not allowed: ignored and counted, still active; (4) `/status` and
    `/positions` from the allowed user: answered; (5) `/halt`: halted and latched, flattened,
    `trading.halted` (kill switch, telegram, who) then `flatten.started` and `flatten.done`;
    (6) `/resume` is refused (not enabled); (7) stop: `shutdown.complete`, flat, exit 0.
    Every webhook delivery is signed; Telegram gets the same events as text."""
    cfg = config.parse(IN_PROCESS_HEAD + STRATEGY + notify_section(services), str(tmp_path))
    secrets = notify_secrets.load(cfg, env=notify_env())
    daemon = paper_daemon(cfg, wiring.strategy(cfg), notify_secrets=secrets)
    run = asyncio.create_task(daemon.run())
    try:
        started = (await eventually_async(lambda: services.delivered("a", "daemon.started"),
                                          10, what="daemon.started"))[0].fields
        assert (started["mode"], started["venue"], started["equity"]) == ("paper", "sim",
                                                                           "10000")
        assert started["strategy"] == "tests.support.strategies:BuyOnce"
        fill = (await eventually_async(lambda: services.delivered("a", "order.filled"), 10,
                                       what="order.filled"))[0].fields
        booked = daemon.inventory.position("BTC/USDT")
        assert (fill["symbol"], fill["side"], Decimal(fill["qty"])) == ("BTC/USDT", "buy",
                                                                        Decimal("0.01"))
        assert Decimal(fill["position"]) == booked == Decimal("0.01")
        price, fee = Decimal(fill["price"]), Decimal(fill["fee"])
        assert fee == (price * Decimal("0.01") * Decimal("7.5") / 10000)  # paper fee_bps

        def ignored() -> float | None:
            return daemon.metrics.registry.get_sample_value(
                "tradingd_notify_commands_ignored_total")

        services.send_update("/halt", chat_id=CHAT_ID + 1, user_id=USER_ID)
        services.send_update("/halt", chat_id=CHAT_ID, user_id=USER_ID + 1)
        await eventually_async(lambda: ignored() == 2, 10, what="2 ignored")
        assert daemon.gate.state is TradingState.ACTIVE and not daemon.supervisor.latched

        services.send_update("/status", chat_id=CHAT_ID, user_id=USER_ID)
        services.send_update("/positions", chat_id=CHAT_ID, user_id=USER_ID)
        replies = await eventually_async(lambda: texts(services, "state active", "BTC/USDT "),
                                         10, what="/status and /positions replies")
        assert "equity" in replies[0] and "0.01" in replies[1]

        services.send_update("/halt@tradingd_bot", chat_id=CHAT_ID, user_id=USER_ID)
        done = await eventually_async(lambda: services.delivered("a", "flatten.done"), 15,
                                      what="flatten.done")
        assert daemon.supervisor.latched and daemon.gate.state is TradingState.HALTED
        assert daemon.inventory.is_flat()
        halted = services.delivered("a", "trading.halted")[0].fields
        assert (halted["breaker"], halted["source"], halted["level"]) == (
            "kill_switch", "telegram", "critical")
        assert halted["detail"] == "telegram /halt by @operator"
        started_flatten = services.delivered("a", "flatten.started")[0].fields
        assert started_flatten["reason"] == "halt:kill_switch"
        assert done[0].fields["state"] == "halted"

        services.send_update("/resume", chat_id=CHAT_ID, user_id=USER_ID)
        await eventually_async(lambda: texts(services, "/resume is disabled"), 10,
                               what="/resume refused")
        assert daemon.supervisor.latched
    finally:
        daemon.stop.set()
        code = await run
    assert code == 0
    stopped = services.delivered("a", "shutdown.complete")[0].fields
    assert (stopped["flat"], stopped["exit_code"], stopped["halt_latched"]) == (True, 0, True)
    deliveries = services.delivered("a")
    assert deliveries and all(signed(r) for r in deliveries)
    tampered = Received("a", "POST", deliveries[0].body + b" ", deliveries[0].headers)
    assert not signed(tampered)
    telegram = [str(r.fields.get("text")) for r in services.delivered("telegram")]
    assert any(t.startswith("🛑 trading HALTED by kill_switch") for t in telegram)
    assert any("daemon stopped, flat, exit code 0" in t for t in telegram)
    assert all(r.fields["chat_id"] == str(CHAT_ID) for r in services.delivered("telegram"))
    text = logs.getvalue()
    assert '"event":"notify.command"' in text and '"user":"@operator"' in text
    assert TOKEN not in text and str(CHAT_ID) not in text


def texts(services: ChatServices, *needles: str) -> list[str] | None:
    """The first Telegram text containing each needle, or None until all have arrived."""
    sent = [str(r.fields.get("text")) for r in services.delivered("telegram")]
    found = [next((t for t in sent if n in t), None) for n in needles]
    return None if None in found else [t for t in found if t is not None]
