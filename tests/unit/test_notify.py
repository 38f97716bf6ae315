"""The notifier's pure parts: `[notify]` errors name their key; a full outbox drops only
informational messages, oldest first, and counts each; fills group into one message; the
retry wait honours a 429's retry_after; the summary's time and drawdown."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenacity import RetryCallState

from daemon.config import ConfigError, parse
from daemon.config_notify import ESSENTIAL, EVENTS, Level, WebhookConfig
from daemon.notify import secrets as notify_secrets
from daemon.notify.delivery import RateLimit, _Backoff
from daemon.notify.message import Message, from_record, group_fills, render
from daemon.notify.outbox import Outbox
from daemon.notify.sinks import SendError, WebhookSink
from daemon.notify.summary import max_drawdown, next_due_ns
from tests.support.configs import SHIPPED

S = 10**9
K = "unit-test-hook-key-Qx7"  # registered with the redactor: long enough to be unique
HOOK = '[[notify.webhook]]\nurl = "http://127.0.0.1:9/h"\n'


@pytest.mark.parametrize(("section", "message"), [
    (HOOK + 'events = ["order.filed"]', "notify.webhook[0].events[0]: unknown event"),
    (HOOK + 'min_level = "loud"', "notify.webhook[0].min_level: must be one of"),
    (HOOK + 'format = "teams"', "notify.webhook[0].format: must be one of"),
    ('[[notify.webhook]]\nurl = "ftp://x/y"', "notify.webhook[0].url: must be an http(s) URL"),
    (HOOK + 'secret_credential = "../etc/passwd"',
     "notify.webhook[0].secret_credential: must be a credential name"),
    ('[notify.telegram]\nchat_id = "12ab"', "notify.telegram.chat_id: must be a numeric"),
    ('[notify.telegram]\nallowed_user_ids = ["me"]', "notify.telegram.allowed_user_ids[0]"),
    ('[notify]\ndaily_summary_utc = "24:00"', "notify.daily_summary_utc: must be HH:MM"),
    ('[notify]\nqueue_size = 0', "notify.queue_size: must be > 0"),
    ('[notify.events."order.filed"]\nenabled = false', "notify.events.order.filed: unknown"),
    ('[notify.events."order.filled"]\nlevel = "urgent"', 'notify.events.order.filled.level'),
    ('[notify]\nsend_timeout_s = nan', "notify.send_timeout_s: must be a finite number"),
])
def test_bad_notify_config_names_the_key(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(SHIPPED + "\n" + section + "\n")
    assert message in str(err.value)


def test_missing_secrets_are_config_errors_naming_the_key(tmp_path: Path) -> None:
    cfg = parse(SHIPPED + "\n" + HOOK + 'secret_credential = "hook_key"\n'
                '[notify.telegram]\nallowed_user_ids = [1]\n')
    with pytest.raises(ConfigError, match=r"notify.webhook\[0\].secret_credential"):
        notify_secrets.load(cfg, env={})
    with pytest.raises(ConfigError, match=r"notify\.telegram: no bot token"):
        notify_secrets.load(cfg, env={"HOOK_KEY": K})
    with pytest.raises(ConfigError, match=r"notify\.telegram\.chat_id"):
        notify_secrets.load(cfg, env={"HOOK_KEY": K,
                                      "TRADINGD_TELEGRAM_TOKEN": "9:unit-test-token-env"})
    (tmp_path / "telegram_chat_id").write_text("-100987654321\n")
    (tmp_path / "telegram_token").write_text("9:unit-test-token-from-file\n")
    got = notify_secrets.load(cfg, env={"HOOK_KEY": K, "CREDENTIALS_DIRECTORY": str(tmp_path),
                                        "TRADINGD_TELEGRAM_TOKEN": "9:unit-test-token-env"})
    assert got.telegram_token == "9:unit-test-token-from-file"
    assert got.telegram_chat_id == "-100987654321"
    assert got.webhook_secrets == (K.encode(),) and "from-file" not in repr(got)


def test_event_switches_and_levels() -> None:
    cfg = parse(SHIPPED + '\n[notify.events."order.filled"]\nenabled = false\n'
                '[notify.events."trading.resumed"]\nlevel = "critical"\n').notify
    assert cfg.level_of("order.filled") is None
    assert cfg.level_of("trading.resumed") is Level.CRITICAL
    assert cfg.level_of("trading.halted") is Level.CRITICAL and not cfg.enabled


def message(event: str, n: int = 0) -> Message:
    return Message(event, EVENTS[event], n, {"n": n})


@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=60), st.integers(1, 8))
def test_a_full_outbox_drops_only_informational_messages_oldest_first(
        events: list[str], size: int) -> None:
    """Against a reference: keep everything essential; of the rest, as many of the newest as
    fit beside the essential ones; everything else is counted as dropped."""
    async def fill() -> tuple[list[Message], list[str]]:
        dropped: list[str] = []
        box = Outbox(size, dropped.append)
        for n, event in enumerate(events):
            box.put(message(event, n))
        return box.pending(), dropped

    kept, dropped = asyncio.run(fill())
    offered = [message(e, n) for n, e in enumerate(events)]
    want: list[Message] = []
    for m in offered:  # the reference: the same rule, one message at a time
        if len(want) >= size:
            info = next((q for q in want if not q.essential), None)
            if info is not None:
                want.remove(info)
            elif not m.essential:
                continue
        want.append(m)
    assert kept == want
    assert [m for m in offered if m.essential] == [m for m in kept if m.essential]
    assert sorted(dropped) == sorted(m.event for m in offered if m not in kept)
    assert all(e not in ESSENTIAL for e in dropped)


def test_fills_group_into_one_message_with_each_fill() -> None:
    fills = [from_record({"event": "order.filled", "symbol": "BTC/USDT", "side": "buy",
                          "qty": Decimal("0.01"), "price": Decimal(60000 + n),
                          "fee": Decimal("0.45"), "position": Decimal("0.01") * (n + 1),
                          "ts": "x", "task": "fills"}, Level.INFO, n) for n in range(3)]
    grouped = group_fills(fills)
    assert grouped.fields["count"] == 3
    assert [f["price"] for f in grouped.fields["fills"]] == ["60000", "60001", "60002"]
    assert "ts" not in grouped.fields["fills"][0] and "task" not in grouped.fields["fills"][0]
    text = render(grouped)
    assert text.startswith("3 fills:") and "buy 0.01 BTC/USDT @ 60002, fee 0.45, position 0.03" \
        in text
    assert group_fills(fills[:1]) is fills[0]


def test_the_retry_wait_honours_retry_after_up_to_the_cap() -> None:
    wait = _Backoff(max_s=5.0)

    def after(err: Exception, attempt: int = 1) -> float:
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        state.set_exception((type(err), err, None))
        return wait(state)

    assert after(SendError("HTTP 429", True, retry_after_s=3)) == 3.0
    assert after(SendError("HTTP 429", True, retry_after_s=600)) == 5.0
    jittered = {after(SendError("HTTP 500", True), 3) for _ in range(20)}
    assert all(0 <= w <= 5.0 for w in jittered) and len(jittered) > 1


def test_summary_is_due_at_the_next_utc_time_and_measures_drawdown() -> None:
    at = int(datetime(2026, 3, 1, 21, 30, tzinfo=UTC).timestamp()) * S
    assert next_due_ns(at, 21 * 60) == at - 30 * 60 * S + 86_400 * S  # passed today: tomorrow
    assert next_due_ns(at, 22 * 60) == at + 30 * 60 * S
    assert max_drawdown([100.0, 120.0, 90.0, 130.0, 117.0]) == pytest.approx(0.25)
    assert max_drawdown([]) == 0.0


@pytest.mark.parametrize(("fmt", "key"), [("json", "text"), ("slack", "text"),
                                          ("discord", "content")])
def test_webhook_templates_carry_the_text_and_the_event(fmt: str, key: str) -> None:
    sink = WebhookSink("webhook0", WebhookConfig(url="http://127.0.0.1:9/h", format=fmt), None)
    halted = from_record({"event": "trading.halted", "source": "SIGUSR1",
                          "breaker": "kill_switch", "detail": "SIGUSR1: kill switch"},
                         Level.CRITICAL, 5)
    doc = json.loads(sink.body(halted))
    assert (doc["event"], doc["level"]) == ("trading.halted", "critical")
    assert doc[key] == "🛑 trading HALTED by kill_switch (SIGUSR1): SIGUSR1: kill switch"
    if fmt == "json":
        assert (doc["breaker"], doc["ts_ns"]) == ("kill_switch", 5)


def test_rate_limit_keeps_to_n_sends_in_any_window() -> None:
    async def stamps() -> list[float]:
        limit = RateLimit(3, window_s=0.3)
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(7):
            await limit.acquire()
            out.append(loop.time())
        return out

    sent = asyncio.run(stamps())
    for n in range(3, 7):  # the 4th send waits for the 1st to leave the window, and so on
        assert sent[n] - sent[n - 3] >= 0.3 - 1e-3
