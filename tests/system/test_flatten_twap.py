"""The stop's flatten by TWAP (`shutdown.flatten_twap_s`): a position bigger than one order
closes in slices spread over the configured time, not in back-to-back pieces."""

from __future__ import annotations

import signal
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.configs import fast_config
from tests.system.test_control import Daemons

pytestmark = pytest.mark.system
BUILD = ("tests.support.algo_strategies:ParentOnce",
         'symbol = "BTC/USDT"\nqty = "0.4"\nduration_s = 2\nslices = 4')
RISK = """max_order_notional = "13000"
max_position_notional = "40000"
max_gross_exposure = "50000"
max_leverage = "3"
stale_data_s = 5
"""


def _ts(rec: dict[str, str]) -> float:
    return datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()


def test_sigterm_closes_a_large_position_by_twap_over_flatten_twap_s(tmp_path: Path,
                                                                     daemons: Daemons) -> None:
    """Steps: 1. a strategy's TWAP buys 0.4 BTC (~24,000 USDT, two orders' worth at
    max_order_notional 13,000); 2. SIGTERM with flatten_twap_s = 4 (deadline 10 s): the flatten
    starts a TWAP of 4 slices (each at most half an order: 24,000 / 6,500, rounded up, for
    any price from 48,750 to 65,000), reduce-only; 3. the four closing
    children go out spread over the 4 s (first to last at least 2 s apart: one slice's window
    plus), not back to back; 4. the daemon exits flat, 0."""
    config = fast_config(tmp_path, BUILD, extra={
        "risk": RISK, "shutdown": "flatten_timeout_s = 10\nflatten_twap_s = 4",
        # Whole fills at once: this is about when the closes go out, not how they fill.
        "paper": 'starting_cash = "10000"\nfill_model = "touch"'})
    d = daemons(config)
    d.wait_for("algo.ended", 30, outcome="complete")
    d.send(signal.SIGTERM)
    assert d.wait_exit(30) == 0, d.why()
    started = d.find("flatten.twap")
    assert started is not None and started["slices"] == 4, started
    assert Decimal(started["qty"]) == Decimal("0.4")
    closes = [r for r in d.records if r.get("event") == "order.submitted"
              and r.get("tag") == "flatten"]
    assert len(closes) == 4 and all(r["reduce_only"] and r["side"] == "sell" for r in closes)
    assert sum(Decimal(r["qty"]) for r in closes) == Decimal("0.4")
    span = _ts(closes[-1]) - _ts(closes[0])
    assert 2.0 <= span <= 4.0, span
    ended = d.find("algo.ended", parent_id=started["parent_id"])
    assert ended is not None and ended["outcome"] == "complete"
    assert d.last_record["flat"] is True
