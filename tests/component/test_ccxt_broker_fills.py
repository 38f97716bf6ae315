"""Fills from the venue against the fake Binance: a malformed trade never reaches the books
(the order is settled from REST instead), and a fee in a third currency is reported, not
silently dropped."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.ccxt_venue import (
    SYM,
    Venue,
    capture_logs,
    log_records,
    venue,
)


def limit_below(v: Venue) -> str:
    mid = v.fx.markets["BTCUSDT"].book.mid()
    assert mid is not None
    return str((mid * Decimal("0.98")).quantize(Decimal("0.01")))


@pytest.mark.asyncio
@pytest.mark.parametrize(("corruption", "problem"), [
    ({"L": "0.00000000"}, "price"),  # ccxt: price 0.0
    ({"l": "-0.01000000"}, "amount"),  # ccxt: amount -0.01
    ({"n": "NaN"}, "fee cost"),  # ccxt: fee cost nan
    ({"L": "NaN"}, "price"),  # ccxt: price nan
])
async def test_malformed_trade_on_the_socket_is_dropped_and_settled_from_rest(
        corruption: dict[str, object], problem: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Steps: a resting order is filled on the venue; the user stream's trade report for it
    is corrupted. The broker keeps running, drops and counts it, and books the trade as the
    venue's REST record has it: positive price and amount, a finite fee."""
    capture_logs()
    async with venue(run=True) as v:
        limit = limit_below(v)
        order = v.approve(limit=limit)
        await v.broker.submit(order)
        coid = order.client_order_id
        v.fx.faults.corrupt_user_trades(corruption)
        v.fx.fill_order("BTCUSDT", client_order_id=coid)
        await v.wait(lambda: v.fills(coid), "the fill, from REST")
        await v.settled()
        fills = v.fills(coid)
        assert {(f.fill.price, f.fill.qty) for f in fills} == {(Decimal(limit), order.qty)}
        assert all(f.fill.fee_quote.is_finite() and f.fill.fee_base.is_finite() for f in fills)
        records = log_records(capsys)
        assert v.errors("MalformedFill") == 1
        bad = [r for r in records if r["event"] == "fill.malformed"]
        assert len(bad) == 1 and bad[0]["client_order_id"] == coid
        assert bad[0]["problem"].startswith(problem)
        assert not any(v.fx.api_secret in str(r) for r in records)


@pytest.mark.asyncio
async def test_a_trade_dropped_on_the_socket_still_comes_before_the_orders_cancel() -> None:
    """Steps: a resting order partly fills (its trade report corrupted), then the operator
    cancels it. The cancel arrives over the socket first; the broker reads the trade from REST
    and reports it before the cancel."""
    async with venue(run=True) as v:
        order = v.approve(limit=limit_below(v))
        await v.broker.submit(order)
        coid = order.client_order_id
        v.fx.faults.corrupt_user_trades({"L": "0.00000000"})
        v.fx.fill_order("BTCUSDT", client_order_id=coid, qty="0.004")
        v.fx.cancel_order("BTCUSDT", client_order_id=coid)
        await v.wait(lambda: "OrderCancelled" in v.of(coid), "the cancel")
        kinds = v.of(coid)  # the poll may report the same trade again later: same trade id
        assert kinds[:3] == ["OrderAccepted", "OrderFilled", "OrderCancelled"]
        assert kinds.count("OrderCancelled") == 1 and set(kinds[3:]) <= {"OrderFilled"}


@pytest.mark.asyncio
async def test_fee_in_a_third_currency_is_logged_once_and_counted_per_trade(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Steps: the account pays fees in BNB; two market buys fill (each reported by the create
    reply and the socket). Their fills carry no fee (there is no BNB price to value it at),
    each trade is counted once, and the currency is logged once with an amount."""
    capture_logs()
    async with venue(run=True, fake={"fee_asset": ("BNB", "500"), "balances": {
            "USDT": "100000", "BTC": "1", "BNB": "10"}}) as v:
        orders = [v.approve(), v.approve()]
        for order in orders:
            await v.broker.submit(order)
        trades = {str(t["id"]) for t in v.fx.trades()}
        await v.wait(lambda: v.errors("FeeInOtherCurrency") == len(trades), "both counted")
        await v.settled()
        fills = [f.fill for o in orders for f in v.fills(o.client_order_id)]
        assert {f.trade_id for f in fills} == trades
        assert all(f.fee_quote == 0 and f.fee_base == 0 for f in fills)
        records = [r for r in log_records(capsys) if r["event"] == "fill.fee_unbooked"]
        assert len(records) == 1 and records[0]["currency"] == "BNB"
        assert Decimal(records[0]["amount"]) > 0
        assert v.errors("FeeInOtherCurrency") == len(trades)
        assert SYM == records[0]["symbol"]
