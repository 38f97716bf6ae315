"""What the ccxt broker accepts as an answer: the shapes ccxt makes of a 200 whose body is not
the record asked for (measured against ccxt 4.5 and the fake Binance) are refused."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.venues.ccxt import replies as ccxt_replies
from daemon.venues.ccxt.client import MalformedReply

COID, SYM = "td-1", "BTC/USDT"
REPORT = {"id": "10000001", "clientOrderId": COID, "symbol": SYM, "status": "closed",
          "amount": 0.001, "filled": 0.001, "remaining": 0.0, "price": 61837.5,
          "average": 61837.5, "cost": 61.8375, "trades": [], "info": {"orderId": 10000001}}
# What ccxt's parse_order makes of an HTML page, `{}` or a truncated body: an order, no id.
EMPTY = {"info": "<html><body>hello</body></html>", "id": None, "clientOrderId": None,
         "symbol": SYM, "status": None, "amount": None, "filled": None, "trades": []}


def test_a_report_of_our_order_is_accepted() -> None:
    assert ccxt_replies.order_report(dict(REPORT), COID, SYM) == REPORT


@pytest.mark.parametrize("reply", [
    EMPTY, "<html>", [], None,
    {**REPORT, "id": None}, {**REPORT, "id": ""}, {**REPORT, "id": {"a": 1}},
    {**REPORT, "id": True},
    {**REPORT, "clientOrderId": "td-2"}, {**REPORT, "clientOrderId": None},
    {**REPORT, "symbol": "ETH/USDT"},
    {**REPORT, "status": None}, {**REPORT, "status": "FILLED"}, {**REPORT, "status": 5},
    {**REPORT, "filled": -0.001}, {**REPORT, "amount": float("nan")},
    {**REPORT, "filled": "0.001"}, {**REPORT, "price": float("inf")},
    {**REPORT, "trades": "x"}, {**REPORT, "filled": None},
    {**REPORT, "status": "canceled", "filled": None},
], ids=repr)
def test_anything_else_is_malformed(reply: Any) -> None:
    with pytest.raises(MalformedReply):
        ccxt_replies.order_report(reply, COID, SYM)


def test_a_cancel_answer_carries_its_own_client_id_and_is_judged_without_it() -> None:
    cancel = {**REPORT, "clientOrderId": "fake_7ea98ea67b5c55b1", "status": "canceled"}
    assert ccxt_replies.venue_order(cancel) == cancel
    with pytest.raises(MalformedReply):
        ccxt_replies.venue_order(EMPTY)


def test_lists_must_be_readable_whole() -> None:
    assert ccxt_replies.order_list([REPORT]) == [REPORT]
    for bad in ([REPORT, EMPTY], {"a": 1}, "x"):
        with pytest.raises(MalformedReply):
            ccxt_replies.order_list(bad)
    assert ccxt_replies.trade_list([{"id": "1"}]) == [{"id": "1"}]
    for bad in (["<"], "x", None):
        with pytest.raises(MalformedReply):
            ccxt_replies.trade_list(bad)


def test_a_balance_must_come_from_an_object_and_list_an_asset() -> None:
    good = {"info": {"balances": []}, "total": {"USDT": 1000.0}, "BTC": {"total": 0.0}}
    assert ccxt_replies.balance(good) is good
    for bad in ({"info": "<html>", "total": {}}, {"info": {}, "total": {}},
                {"info": {"x": 1}, "total": {}}, "x"):
        with pytest.raises(MalformedReply):
            ccxt_replies.balance(bad)


def test_messages_stay_short_whatever_the_venue_sent() -> None:
    with pytest.raises(MalformedReply) as err:
        ccxt_replies.order_report({**EMPTY, "info": "<html>" + "x" * 10_000}, COID, SYM)
    assert len(str(err.value)) < 200
