"""Inventory accounting: hand-computed cases and properties against the sequence of fills."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.book.inventory import InventoryManager
from daemon.book.recent_ids import DEDUP_WINDOW
from daemon.model import Fill, Order, OrderState, OrderType, Side
from tests.support.instruments import instrument

BTC = instrument(max_qty="1000")


_trade_ids = itertools.count(1)


def fill(side: Side, qty: str, price: str, fee: str = "0", tid: str = "", coid: str = "c") -> Fill:
    trade_id = tid or f"t{next(_trade_ids)}"
    return Fill(coid, trade_id, "BTC/USDT", side, D(qty), D(price), D(fee), 0)


def inv(cash: str = "1000") -> InventoryManager:
    return InventoryManager([BTC], D(cash))


def test_long_marked_up_is_a_gain_not_a_loss() -> None:
    """The seed reversed this sign: long 1 @ 100 marked at 115 is +15."""
    i = inv("100")
    i.apply_fill(fill(Side.BUY, "1", "100"))
    i.mark("BTC/USDT", 115.0, 1)
    assert i.unrealized_pnl() == D(15)
    assert i.equity() == D(115)
    assert i.cash == D(100)


def test_partial_close_realizes_only_the_closed_part() -> None:
    i = inv()
    i.apply_fill(fill(Side.BUY, "2", "100"))
    i.apply_fill(fill(Side.SELL, "0.5", "110", fee="0.1"))
    i.mark("BTC/USDT", 120.0, 1)
    assert i.position("BTC/USDT") == D("1.5")
    assert i.realized_pnl == D(5)
    assert i.unrealized_pnl() == D(30)
    assert i.cash == D("1004.9")
    assert i.equity() == D("1034.9")


def test_flip_through_zero_opens_the_rest_at_the_fill_price() -> None:
    i = inv()
    i.apply_fill(fill(Side.BUY, "1", "100"))
    i.apply_fill(fill(Side.SELL, "3", "90"))
    assert i.position("BTC/USDT") == D(-2)
    assert i.realized_pnl == D(-10)
    (p,) = i.positions()
    assert p.avg_price == D(90)
    i.mark("BTC/USDT", 80.0, 1)
    assert i.unrealized_pnl() == D(20)  # short 2 from 90 to 80


def test_fifo_lots_close_oldest_first() -> None:
    i = inv()
    i.apply_fill(fill(Side.BUY, "1", "100"))
    i.apply_fill(fill(Side.BUY, "1", "200"))
    i.apply_fill(fill(Side.SELL, "1", "150"))
    assert i.realized_pnl == D(50)
    (p,) = i.positions()
    assert p.avg_price == D(200)


def test_duplicate_trade_id_is_booked_once() -> None:
    i = inv()
    f = fill(Side.BUY, "1", "100", fee="1", tid="same")
    assert i.apply_fill(f) is True
    assert i.apply_fill(f) is False
    assert i.position("BTC/USDT") == D(1) and i.fees == D(1) and i.fill_count == 1


def test_the_duplicate_window_is_bounded_and_keeps_the_recent_ids() -> None:
    """A daemon that runs for months must not remember every trade id: once DEDUP_WINDOW more
    have been booked the oldest is forgotten (the journal still refuses it), while a recent
    twin is still refused here."""
    i = inv("1000000")
    first = fill(Side.BUY, "0.001", "100", tid="oldest")
    i.apply_fill(first)
    for n in range(DEDUP_WINDOW - 1):
        i.apply_fill(fill(Side.BUY, "0.001", "100", tid=f"w{n}"))
    assert i.apply_fill(first) is False  # still within the window
    i.apply_fill(fill(Side.BUY, "0.001", "100", tid="one-more"))
    twin = fill(Side.BUY, "0.001", "100", tid=f"w{DEDUP_WINDOW - 2}")
    assert i.apply_fill(twin) is False
    assert i.apply_fill(first) is True  # forgotten: memory stays bounded
    assert i.fill_count == DEDUP_WINDOW + 2


def test_order_states_follow_partial_then_full_fill() -> None:
    i = inv()
    order = Order("c1", "BTC/USDT", Side.BUY, D(2), OrderType.MARKET, None, False, 0)
    i.open_order(order)
    assert i.order_accepted("c1", "v1") is order and order.state is OrderState.ACCEPTED
    i.apply_fill(fill(Side.BUY, "0.5", "100", coid="c1"))
    assert order.state is OrderState.PARTIALLY_FILLED
    assert i.working_qty("BTC/USDT", Side.BUY) == D("1.5")
    i.apply_fill(fill(Side.BUY, "1.5", "100", coid="c1"))
    assert order.state is OrderState.FILLED and not i.working_orders()
    assert i.is_flat() is False


def test_view_cannot_change_orders() -> None:
    i = inv()
    i.open_order(Order("c1", "BTC/USDT", Side.BUY, D(1), OrderType.MARKET, None, False, 0))
    copy = i.view.working_orders()[0]
    copy.qty = D(100)
    assert i.working_orders()[0].qty == D(1)


def test_duplicate_client_order_id_is_refused() -> None:
    i = inv()
    i.open_order(Order("c1", "BTC/USDT", Side.BUY, D(1), OrderType.MARKET, None, False, 0))
    with pytest.raises(ValueError):
        i.open_order(Order("c1", "BTC/USDT", Side.BUY, D(1), OrderType.MARKET, None, False, 0))


qtys = st.integers(1, 5000).map(lambda n: D(n) / 1000)
px = st.integers(1, 10_000_00).map(lambda n: D(n) / 100)
fees = st.integers(0, 1000).map(lambda n: D(n) / 10_000)
fills_st = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), qtys, px, fees),
                    min_size=1, max_size=40)


@given(fills_st, px)
def test_cash_and_position_value_reconcile_with_the_fills(
        seq: list[tuple[Side, D, D, D]], mark: D) -> None:
    i = inv("10000")
    paid = D(0)
    position = D(0)
    fee_total = D(0)
    lots: list[list[D]] = []  # reference FIFO: [signed qty, price]
    realized = D(0)
    for n, (side, q, p, f) in enumerate(seq):
        i.apply_fill(Fill("c", f"t{n}", "BTC/USDT", side, q, p, f, n))
        signed = q if side is Side.BUY else -q
        paid += signed * p
        fee_total += f
        position += signed
        remaining = signed
        while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
            take = min(abs(lots[0][0]), abs(remaining))
            direction = 1 if lots[0][0] > 0 else -1
            realized += take * (p - lots[0][1]) * direction
            lots[0][0] -= take * direction
            remaining += take * direction
            if not lots[0][0]:
                lots.pop(0)
        if remaining:
            lots.append([remaining, p])
    i.mark("BTC/USDT", float(mark), 1)
    assert i.position("BTC/USDT") == position
    assert i.fees == fee_total
    assert i.realized_pnl == realized
    # What the account holds in cash terms, plus the position at the mark, is the equity.
    assert i.equity() == D(10000) - paid - fee_total + position * mark
    assert i.cash == D(10000) + realized - fee_total
    # The book keeps running sums: they must equal the lots they stand for, exactly.
    assert i.unrealized_pnl() == sum(((mark - lp) * lq for lq, lp in lots), D(0))
    held = sum((abs(lq) for lq, _ in lots), D(0))
    avg = sum((abs(lq) * lp for lq, lp in lots), D(0)) / held if held else D(0)
    assert [p.avg_price for p in i.positions() if p.qty] == ([avg] if held else [])


def test_every_new_mark_and_quote_is_what_the_books_read() -> None:
    """The Decimal forms are made once per update: a later mark or quote must replace them,
    or equity and the gate would price orders off an old market."""
    books = inv()
    books.apply_fill(fill(Side.BUY, "1", "100"))
    assert books.mark_price("BTC/USDT") is None and books.touch("BTC/USDT") is None
    for price, bid, ask in ((100.5, 100.25, 100.75), (99.1, 99.0, 99.2), (120.0, 119.5, 120.5)):
        books.mark("BTC/USDT", price, 1)
        assert books.mark_price("BTC/USDT") == D(str(price))
        assert books.equity() == D("1000") + D(str(price)) - D("100")
        books.quote("BTC/USDT", bid, ask)
        assert books.touch("BTC/USDT") == (D(str(bid)), D(str(ask)))
    books.quote("BTC/USDT", 130.0, 129.0)  # crossed: ignored, the last good touch stays
    assert books.touch("BTC/USDT") == (D("119.5"), D("120.5"))
