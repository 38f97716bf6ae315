"""`tradingd run` with `[notify]`: the crash and the stop reach the webhook from a real daemon
process, and no secret of the notifier (bot token, chat id, HMAC key) reaches any output, even
when the fake services echo the token and the key back in their errors, as careless APIs do.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.chat_services import (
    CHAT_ID,
    HMAC_KEY,
    TELEGRAM,
    TOKEN,
    ChatServices,
    notify_env,
    notify_section,
)
from tests.support.configs import CRASH_AFTER_FILL, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.system.test_secrets import files_under, outputs

pytestmark = pytest.mark.system


@pytest.fixture
def services() -> Iterator[ChatServices]:
    with ChatServices(TOKEN) as s:
        yield s


def test_crash_is_sent_and_no_notifier_secret_reaches_any_output(
        tmp_path: Path, services: ChatServices, daemons: Callable[..., DaemonProcess]) -> None:
    """Steps: webhook `a` answers, webhook `b` and Telegram answer every message with an error
    quoting the token and the HMAC key; the strategy crashes after its first fill. The
    daemon flattens and exits 70; `a` got `task.crashed` (with the error) and
    `shutdown.complete` (crashed, flat, 70), signed; the failures were logged, redacted; no
    log line, stderr line or file holds the token, the chat id or the key."""
    services.set_mode("b", "echo")
    services.set_mode(TELEGRAM, "echo")
    path = fast_config(tmp_path, CRASH_AFTER_FILL)
    with path.open("a") as f:
        f.write("\n" + notify_section(services, hooks=("a", "b")))
    d = daemons(path, env=notify_env())
    assert d.wait_exit(60) == 70
    crash = services.delivered("a", "task.crashed")
    assert crash and "crashing on purpose" in crash[0].fields["error"]
    stop = services.delivered("a", "shutdown.complete")[0].fields
    assert (stop["crashed"], stop["flat"], stop["exit_code"]) == (True, True, 70)
    for r in services.delivered("a"):
        want = hmac.new(HMAC_KEY.encode(), r.body, hashlib.sha256).hexdigest()
        assert r.headers["X-Tradingd-Signature"] == f"sha256={want}"
    failed = [r for r in d.records if r.get("event") == "notify.send_failed"]
    assert {r["sink"] for r in failed} >= {"webhook1", TELEGRAM}
    assert any("[REDACTED]" in r["error"] for r in failed)  # the echo happened, and was hidden
    text = outputs(d) + files_under(tmp_path)
    for secret in (TOKEN, TOKEN.split(":", 1)[1], HMAC_KEY, str(CHAT_ID)):
        assert secret not in text, f"{secret[:4]}... leaked"
