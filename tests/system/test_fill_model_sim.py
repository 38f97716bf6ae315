"""The market fill model (the shipped default) on the live path: the daemon as a process on the
simulated market, its trades 0.001 to 0.051 BTC. A 0.05 BTC market buy takes a tenth of the
volume that trades after it, so it fills in pieces, each at the taker fee; on SIGTERM the
flatten sells it back (in pieces too) and the daemon exits 0, flat."""

from __future__ import annotations

import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import BUY_ONCE, fast_config
from tests.support.daemon_proc import DaemonProcess
from tests.system.test_lifecycle import assert_flat_shutdown

pytestmark = pytest.mark.system

PAPER = """starting_cash = "10000"
fill_model = "market"
taker_fee_bps = 5
maker_fee_bps = 1
latency_ms = 100
max_participation = 0.1"""


def test_market_orders_fill_in_pieces_on_the_sim_and_the_stop_is_flat(
        tmp_path: Path, daemons: Callable[..., DaemonProcess]) -> None:
    strategy = (BUY_ONCE[0], BUY_ONCE[1].replace('qty = "0.01"', 'qty = "0.05"'))
    d = daemons(fast_config(tmp_path, strategy, extra={"paper": PAPER}))

    def bought(rec: dict[str, Any]) -> bool:
        return rec.get("event") == "order.filled" and Decimal(rec["position"]) == Decimal("0.05")

    d.wait_for_match(60, bought, "the whole 0.05 BTC bought")
    pieces = [r for r in d.records if r.get("event") == "order.filled"]
    assert len({r["client_order_id"] for r in pieces}) == 1 and len(pieces) >= 2
    assert sum(Decimal(r["qty"]) for r in pieces) == Decimal("0.05")
    for r in pieces:  # the taker fee, on each piece's own notional
        assert Decimal(r["fee"]) == Decimal(r["qty"]) * Decimal(r["price"]) * 5 / 10_000
    d.send(signal.SIGTERM)
    assert_flat_shutdown(d, d.wait_exit(60))
