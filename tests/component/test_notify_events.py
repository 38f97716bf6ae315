"""The notifier's other events, each from the component that logs it, through the real sinks
to the local fakes: the daily summary at its UTC time (with the equity chart when matplotlib
is installed), market data stale beyond the notify threshold (not before), a venue's
rejection, an incomplete flatten; and `/resume` where the config allows it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from daemon import config, wiring
from daemon.events import OrderRejected
from daemon.execution.booking import apply
from daemon.model import Order, OrderType, Side, TradingState
from daemon.notify import notifier as notify
from daemon.notify import secrets as notify_secrets
from daemon.ops import log
from daemon.tasks.health import check_staleness
from tests.support.chat_services import (
    CHAT_ID,
    TELEGRAM,
    TOKEN,
    USER_ID,
    ChatServices,
    notify_env,
    notify_section,
)
from tests.support.clock import ManualClock
from tests.support.configs import IN_PROCESS_HEAD
from tests.support.in_process import paper_daemon
from tests.support.wait import eventually_async

S = 10**9
DAY0 = int(datetime(2026, 3, 1, 23, 58, tzinfo=UTC).timestamp()) * S
STRATEGY = """[strategy]
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


@pytest.mark.asyncio
async def test_summary_stale_data_rejection_and_incomplete_flatten(
        tmp_path: Path, services: ChatServices, logs: io.StringIO) -> None:
    """Steps: the notifier runs on a clock at 23:58 UTC, BTC/USDT marked then. (1) The health
    check finds the data 10 s old: stale in the log, but under `stale_data_s` = 30, so no
    message; at 31 s one arrives. (2) The venue rejects a working order: `order.rejected`
    with reason and text. (3) An incomplete flatten is reported, critical. (4) At 00:00 UTC
    the daily summary: the day's date, equity, PnL, fees and trades; on Telegram with the
    equity chart as a PNG when matplotlib is installed."""
    text = IN_PROCESS_HEAD + STRATEGY + notify_section(
        services, notify='stale_data_s = 30\ndaily_summary_utc = "00:00"')
    cfg = config.parse(text, str(tmp_path))
    clock = ManualClock(DAY0)
    strategy = wiring.strategy(cfg)
    parts = wiring.build(cfg, strategy, wiring.paper_venue(cfg, strategy, clock),
                         notify_secrets=notify_secrets.load(cfg, env=notify_env()))
    inv, notifier = parts.inventory, parts.notifier
    inv.mark("BTC/USDT", 60000.0, DAY0)
    async with notify.running(notifier):
        clock.advance(10 * S)
        check_staleness(inv, parts.metrics, clock.now_ns(), 5.0, set(), parts.health)
        assert notifier is not None
        assert '"event":"market_data.stale"' in logs.getvalue()  # stale in the log already
        assert not [m for w in notifier.workers for m in w.outbox.pending()
                    if m.event == "market_data.stale"]  # but not worth a message yet
        clock.advance(21 * S)
        stale = (await eventually_async(lambda: services.delivered("a", "market_data.stale"),
                                        10, what="market_data.stale"))[0].fields
        assert (stale["symbol"], stale["threshold_s"], stale["level"]) == ("BTC/USDT", 30.0,
                                                                           "warning")
        assert 31.0 <= stale["age_s"] < 33.0

        order = Order("td-1", "BTC/USDT", Side.BUY, Decimal("0.01"), OrderType.MARKET, None,
                      False, clock.now_ns())
        inv.open_order(order)
        apply(OrderRejected("td-1", "insufficient_funds", "Account has insufficient balance",
                            clock.now_ns()), inv, parts.metrics)
        rejected = (await eventually_async(lambda: services.delivered("a", "order.rejected"),
                                           10, what="order.rejected"))[0].fields
        assert (rejected["client_order_id"], rejected["reason"], rejected["level"]) == (
            "td-1", "insufficient_funds", "warning")
        assert rejected["message"] == "Account has insufficient balance"

        log.get("supervisor").error("flatten.incomplete", reason="halt:daily_loss",
                                    positions={"BTC/USDT": Decimal("0.5")}, working_orders=1)
        incomplete = (await eventually_async(
            lambda: services.delivered("a", "flatten.incomplete"), 10))[0].fields
        assert incomplete["positions"] == {"BTC/USDT": "0.5"}
        assert incomplete["level"] == "critical"

        clock.advance(90 * S)  # past 00:00 UTC
        summary = (await eventually_async(lambda: services.delivered("a", "summary.daily"),
                                          10, what="summary.daily"))[0].fields
        assert summary["date"] == "2026-03-02"
        assert (summary["equity"], summary["pnl"], summary["fees"], summary["trades"]) == (
            "10000", "0", "0", 0)
        photo = await eventually_async(
            lambda: [r for r in services.delivered(TELEGRAM) if r.method == "sendPhoto"]
            or [r for r in services.delivered(TELEGRAM) if "daily summary" in
                str(r.fields.get("text"))], 10, what="the summary on Telegram")
    if importlib.util.find_spec("matplotlib") is not None:
        assert photo[0].method == "sendPhoto" and photo[0].photo is not None
        assert photo[0].photo.startswith(b"\x89PNG\r\n\x1a\n")
        assert "daily summary" in photo[0].fields["caption"]
    else:
        assert photo[0].method == "sendMessage"


@pytest.mark.asyncio
async def test_resume_from_chat_when_allowed(tmp_path: Path, services: ChatServices) -> None:
    """Steps: `allow_resume = true`; `/halt` latches and flattens; `/resume` clears the latch,
    trading is ACTIVE again and `trading.resumed` says who."""
    text = IN_PROCESS_HEAD + STRATEGY + notify_section(services, telegram="allow_resume = true")
    cfg = config.parse(text, str(tmp_path))
    daemon = paper_daemon(cfg, wiring.strategy(cfg),
                          notify_secrets=notify_secrets.load(cfg, env=notify_env()))
    run = asyncio.create_task(daemon.run())
    try:
        await eventually_async(lambda: services.delivered("a", "daemon.started"), 10)
        services.send_update("/halt", chat_id=CHAT_ID, user_id=USER_ID)
        await eventually_async(lambda: services.delivered("a", "flatten.done"), 15)
        assert daemon.supervisor.latched
        services.send_update("/resume", chat_id=CHAT_ID, user_id=USER_ID)
        resumed = (await eventually_async(lambda: services.delivered("a", "trading.resumed"),
                                          10, what="trading.resumed"))[0].fields
        assert (resumed["source"], resumed["previous_state"]) == ("telegram", "halted")
        assert daemon.gate.state is TradingState.ACTIVE and not daemon.supervisor.latched
    finally:
        daemon.stop.set()
        assert await run == 0


def test_malformed_or_foreign_updates_are_ignored_and_counted(tmp_path: Path,
                                                              services: ChatServices) -> None:
    """Whatever a chat sends (no text, a text that is not a string, no sender, another chat,
    a user not allowed, an unknown command), nothing is obeyed and nothing raises; only the
    allowed user's `/flatten` moves the state."""
    cfg = config.parse(IN_PROCESS_HEAD + STRATEGY + notify_section(services), str(tmp_path))
    strategy = wiring.strategy(cfg)
    parts = wiring.build(cfg, strategy, wiring.paper_venue(cfg, strategy),
                         notify_secrets=notify_secrets.load(cfg, env=notify_env()))
    assert parts.notifier is not None and parts.notifier.chat is not None
    chat = parts.notifier.chat

    def msg(text: object, chat_id: object = CHAT_ID, user: object = None) -> object:
        sender = {"id": USER_ID, "username": "op"} if user is None else user
        return {"update_id": 1, "message": {"text": text, "chat": {"id": chat_id},
                                            "from": sender}}

    junk = [None, [], "x", {}, {"message": "x"}, {"message": {"text": 5}}, msg(None),
            {"update_id": 2, "message": {"text": "/halt"}}, msg("/halt", user="me"),
            msg("/halt", chat_id=CHAT_ID + 1), msg("/halt", chat_id=None),
            msg("/halt", user={"id": USER_ID + 1}), msg("/halt", user={"id": str(USER_ID)})]
    assert [chat.handle(u) for u in junk] == [None] * len(junk)
    ignored = parts.metrics.registry.get_sample_value("tradingd_notify_commands_ignored_total")
    assert ignored == 6  # the six with a text: each from somewhere not allowed
    assert parts.gate.state is TradingState.ACTIVE
    assert chat.handle(msg("/sudo")) == "commands: /status /positions /halt /flatten"
    assert chat.handle(msg("")) is not None and parts.gate.state is TradingState.ACTIVE
    assert chat.handle(msg("/flatten")) == "flatten requested; state reducing"
    assert parts.gate.state is TradingState.REDUCING and not parts.supervisor.latched
