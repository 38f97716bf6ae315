"""The `[reconcile]` settings: shipped defaults and mistakes that name their key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.config import ConfigError, UnknownOrders, parse
from tests.support.configs import SHIPPED, replace_section


def test_shipped_reconcile_defaults() -> None:
    cfg = parse(SHIPPED)
    assert cfg.reconcile.interval_s == Decimal(60)
    assert cfg.reconcile.tolerance_ratio == Decimal("0.001")
    assert cfg.reconcile.unknown_orders is UnknownOrders.CANCEL


@pytest.mark.parametrize(("body", "message"), [
    ("interval_s = 0", "reconcile.interval_s: must be > 0"),
    ("tolerance_ratio = -0.1", "reconcile.tolerance_ratio: must be >= 0"),
    ('unknown_orders = "ignore"', "reconcile.unknown_orders: invalid enum value"),
    ("interval = 5", "reconcile.interval: unknown key"),
])
def test_bad_reconcile_setting_names_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(replace_section(SHIPPED, "reconcile", body))
    assert str(err.value).startswith(message)
