"""Reading a swap venue's answers: positions, marks and funding, and nothing unreadable
believed (an unreadable answer raises `MalformedReply`, never reads as "flat")."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from daemon.events import FundingPaid, MarkPriced
from daemon.venues.ccxt.client import MalformedReply
from daemon.venues.ccxt.swaps import funding_events, position_marks, positions

SWAP = "BTC/USDT:USDT"


def row(**kw: Any) -> dict[str, Any]:
    return {"symbol": SWAP, "contracts": 0.015, "contractSize": 1.0, "side": "short",
            "markPrice": 62000.5, "liquidationPrice": 70000.1, "initialMargin": 310.0, **kw}


def test_positions_are_signed_and_missing_symbols_are_flat() -> None:
    assert positions([row()], [SWAP, "ETH/USDT:USDT"]) == {SWAP: D("-0.015"),
                                                           "ETH/USDT:USDT": D(0)}
    assert positions([row(side="long")], [SWAP]) == {SWAP: D("0.015")}
    assert positions([row(contracts=0, side=None)], [SWAP]) == {SWAP: D(0)}
    assert positions([row(contractSize=0.1)], [SWAP]) == {SWAP: D("-0.0015")}
    assert positions([row(symbol="XRP/USDT:USDT")], [SWAP]) == {SWAP: D(0)}


@pytest.mark.parametrize("reply", [None, {"a": 1}, [1], [row(contracts="abc")],
                                   [row(contracts=-1)], [row(side="both")],
                                   [row(contracts=float("nan"))]])
def test_unreadable_positions_are_malformed_not_flat(reply: Any) -> None:
    with pytest.raises(MalformedReply):
        positions(reply, [SWAP])


def test_position_marks_carry_liquidation_and_margin() -> None:
    [mark] = position_marks([row(), row(symbol="ETH/USDT:USDT")], [SWAP], 5)
    assert mark == MarkPriced(SWAP, D("62000.5"), 5, D("70000.1"), D("310.0"))
    assert position_marks([row(markPrice=None)], [SWAP], 5) == []


def test_funding_rows_become_settlements_with_the_venues_id() -> None:
    reply = [{"symbol": SWAP, "id": "77", "timestamp": 1_700_000_000_000, "amount": -0.62},
             {"symbol": "ETH/USDT:USDT", "id": "78", "timestamp": 1, "amount": 1}]
    assert funding_events(reply, SWAP) == [
        FundingPaid(SWAP, "77", D("-0.62"), 1_700_000_000_000_000_000)]
    for bad in ([{"symbol": SWAP, "timestamp": 1, "amount": 1}],
                [{"symbol": SWAP, "id": "1", "timestamp": 1, "amount": "x"}],
                "nope"):
        with pytest.raises(MalformedReply):
            funding_events(bad, SWAP)
