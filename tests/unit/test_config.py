"""Config decoding: the shipped file is valid; every kind of mistake names its key path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.config import ConfigError, TradingState, load, parse
from tests.support.configs import SHIPPED, replace_section

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_and_exact() -> None:
    cfg = load(ROOT / "config.toml")
    assert cfg.risk.max_order_notional == Decimal(20000)
    assert cfg.paper.fee_bps == Decimal("7.5")
    assert cfg.risk.initial_state is TradingState.ACTIVE
    assert cfg.market.instruments[0].size_increment == Decimal("0.00001")


def with_risk(body: str) -> str:
    return replace_section(SHIPPED, "risk", body)


RISK_OK = 'max_order_notional = "100"\nmax_position_notional = "100"\n'


@pytest.mark.parametrize(("text", "message"), [
    (with_risk('max_order_notional = "0"\nmax_position_notional = "1"'),
     "risk.max_order_notional: must be > 0"),
    (with_risk(RISK_OK + "max_orders_per_second = -1"),
     "risk.max_orders_per_second: must be > 0"),
    (with_risk(RISK_OK + 'max_orders_per_second = "5"'),
     "risk.max_orders_per_second: expected `int`, got `str`"),
    (with_risk('max_position_notional = "1"'), "risk.max_order_notional: missing required key"),
    (with_risk(RISK_OK + "max_oder_notional = 5"),
     "risk.max_oder_notional: unknown key (not a setting; check the spelling)"),
    (with_risk(RISK_OK + 'initial_state = "paused"'), "risk.initial_state: invalid enum value"),
    (with_risk('max_order_notional = "ten"\nmax_position_notional = "1"'),
     "risk.max_order_notional: invalid decimal string"),
    (SHIPPED.replace('listen = "127.0.0.1:9464"', 'listen = "9464"'),
     "metrics.listen: must be 'host:port'"),
    (SHIPPED.replace('min_notional = "5"', 'min_notional = "-5"'),
     "market.instruments[0].min_notional: must be >= 0"),
    (SHIPPED.replace("[risk]", "[rsik]"), "rsik: unknown key"),
    (SHIPPED.replace('class = "strategies', 'class = "not a path'),
     "strategy.class: must be 'module.path:ClassName'"),
    (SHIPPED + "\n[risk\n", "malformed TOML"),
])
def test_bad_config_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(message)


def test_list_index_appears_in_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^market\.instruments\[0\]\.min_notional: "):
        parse(SHIPPED.replace('min_notional = "5"', 'min_notional = "-5"'))
