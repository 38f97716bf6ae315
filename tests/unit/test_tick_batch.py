"""The columnar tick batch: built from rows or columns, and the columns always line up."""

from __future__ import annotations

import pytest

from daemon.model import Tick, TickBatch


def test_batch_from_rows_has_the_same_trades_as_columns() -> None:
    rows = [Tick(1, 100.0, 0.5, 7), Tick(2, 101.0, 0.25, 8)]
    batch = TickBatch.of("BTC/USDT", rows, 100.5, 101.5, 3, gap_before=True)
    assert (batch.ts_ns, batch.price, batch.size) == ([1, 2], [100.0, 101.0], [0.5, 0.25])
    assert (batch.bid, batch.ask, batch.recv_ns, batch.gap_before) == (100.5, 101.5, 3, True)
    # Trade ids stay with the feed (dedup, gaps); a batch carries what the signal path reads.
    assert batch.ticks() == [Tick(1, 100.0, 0.5), Tick(2, 101.0, 0.25)]


def test_columns_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        TickBatch("BTC/USDT", [1, 2], [100.0], [0.5], 0.0, 0.0, 2)
