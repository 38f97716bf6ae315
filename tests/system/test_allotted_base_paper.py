"""`exchange.allotted_base` on paper: the market-making example (which allots 0.006 BTC) quotes
an ask from its first quotes on the simulated market, before anything has filled, and stops
flat — the allotment held again."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.daemon_proc import DaemonProcess

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


def test_paper_maker_quotes_an_ask_from_the_allotment_before_any_fill(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    """1. the example runs as shipped; 2. its first quotes are a bid and an ask, with no fill
    before the ask; 3. something fills; 4. SIGTERM: exit 0, flat (the allotment held again)."""
    config = tmp_path / "market_making.toml"
    shutil.copy(ROOT / "examples" / "market_making.toml", config)
    d = daemons(config)
    ask = d.wait_for("order.submitted", 60, tag="ask")
    assert ask["side"] == "sell" and Decimal(ask["qty"]) == Decimal("0.002")
    first_ask = next(i for i, r in enumerate(d.records) if r.get("tag") == "ask")
    assert "order.filled" not in [r.get("event") for r in d.records[:first_ask]]
    d.wait_for("order.filled", 120)
    d.send(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.why()
    last = d.last_record
    assert last["event"] == "shutdown.complete" and last["flat"] is True, last
