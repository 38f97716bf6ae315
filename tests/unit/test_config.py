"""Config decoding: the shipped file is valid; every kind of mistake names its key path."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.config import ConfigError, RiskConfig, load, parse
from daemon.model import TradingState
from daemon.wiring import instruments_from_config
from strategies.base import StrategyContext
from strategies.base import load as load_strategy
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


def with_control(body: str) -> str:
    return replace_section(SHIPPED, "control", body)


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
    (with_risk(RISK_OK + "max_gross_exposure = 0"), "risk.max_gross_exposure: must be > 0"),
    (with_risk(RISK_OK + 'max_leverage = "-1"'), "risk.max_leverage: must be > 0"),
    (with_risk(RISK_OK + 'price_collar_bps = "nan"'),
     "risk.price_collar_bps: must be a finite number"),
    (with_risk(RISK_OK + 'max_daily_loss = "inf"'), "risk.max_daily_loss: must be a finite"),
    (with_risk(RISK_OK + "max_orders_per_minute = 0"),
     "risk.max_orders_per_minute: must be > 0"),
    (with_risk(RISK_OK + "stale_data_s = 0"), "risk.stale_data_s: must be > 0"),
    (with_risk(RISK_OK + "max_daily_loss = -5"), "risk.max_daily_loss: must be > 0"),
    (with_risk(RISK_OK + "max_drawdown_pct = 100"),
     "risk.max_drawdown_pct: must be < 100 (a percentage of the equity peak)"),
    (with_risk(RISK_OK + "max_rejections_per_minute = -1"),
     "risk.max_rejections_per_minute: must be >= 0"),
    (with_risk(RISK_OK + "max_malformed_replies_per_minute = -1"),
     "risk.max_malformed_replies_per_minute: must be >= 0"),
    (with_control('enabled = true\nlisten = "0.0.0.0:9465"'),
     "control.listen: must be a loopback address"),
    (with_control('listen = "127.0.0.1:9465"\nunix = "c.sock"'),
     "control.listen: set either listen or unix, not both"),
    (with_control('unix = "../c.sock"'),
     "control.unix: must be a relative path under daemon.state_dir"),
    (with_control('enabled = "yes"'), "control.enabled: expected `bool`"),
])
def test_bad_config_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(message)


def test_list_index_appears_in_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^market\.instruments\[0\]\.min_notional: "):
        parse(SHIPPED.replace('min_notional = "5"', 'min_notional = "-5"'))


def test_shipped_config_sets_every_risk_limit_explicitly() -> None:
    """Operators read config.toml: no limit may hide behind a code default there."""
    risk_section = SHIPPED.split("[risk]", 1)[1].split("\n[", 1)[0]
    for name in RiskConfig.__struct_fields__:
        assert f"\n{name} = " in risk_section, name


@pytest.mark.parametrize("listen", ["127.0.0.1:9465", "[::1]:9465", "localhost:9465",
                                    "127.0.0.2:0"])
def test_control_listens_on_loopback_only(listen: str) -> None:
    cfg = parse(with_control(f'enabled = true\nlisten = "{listen}"'))
    assert cfg.control.address == listen


def test_control_defaults_to_off_and_to_the_loopback_port() -> None:
    cfg = parse(with_control(""))
    assert cfg.control.enabled is False and cfg.control.address == "127.0.0.1:9465"


# TOML has `nan` and `inf` literals, and a string "NaN" decodes into a Decimal field: no
# setting may be either (NaN cannot be compared; an infinite timeout or limit is none at all).
@pytest.mark.parametrize(("old", "new", "key"), [
    ("fee_bps = 7.5", "fee_bps = nan", "paper.fee_bps"),
    ("fee_bps = 7.5", 'fee_bps = "NaN"', "paper.fee_bps"),
    ('starting_cash = "10000"', 'starting_cash = "inf"', "paper.starting_cash"),
    ('starting_cash = "10000"', "starting_cash = -inf", "paper.starting_cash"),
    ("flatten_timeout_s = 30", "flatten_timeout_s = inf", "shutdown.flatten_timeout_s"),
    ("heartbeat_s = 10", 'heartbeat_s = "Infinity"', "health.heartbeat_s"),
    ('max_order_notional = "20000"', 'max_order_notional = "sNaN"', "risk.max_order_notional"),
])
def test_nan_or_infinite_setting_is_named_not_a_crash(old: str, new: str, key: str) -> None:
    assert old in SHIPPED
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: must be a finite number$"):
        parse(SHIPPED.replace(old, new))


@pytest.mark.parametrize(("old", "new", "key"), [
    ('scale = "1.0"', 'scale = "NaN"', "strategy.params.scale"),
    ('scale = "1.0"', "scale = inf", "strategy.params.scale"),
    ('scale = "1.0"', 'scale = "1.0"\nfixed_qty = nan', "strategy.params.fixed_qty"),
])
def test_nan_or_infinite_strategy_param_is_named(old: str, new: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: must be a finite number$"):
        cfg = parse(SHIPPED.replace(old, new), str(ROOT))
        ctx = StrategyContext(instruments_from_config(cfg), ROOT)
        load_strategy(cfg.strategy.class_path, cfg.strategy.params, ctx)


def test_durations_are_float_seconds_and_still_read_as_before() -> None:
    """Durations were Decimal; as floats a string must still read as the decimal it was, and a
    bad one must fail with the same message."""
    cfg = parse(replace_section(SHIPPED, "shutdown", 'flatten_timeout_s = "2.5"'))
    assert cfg.shutdown.flatten_timeout_s == 2.5
    assert type(cfg.shutdown.flatten_timeout_s) is float
    assert type(cfg.risk.stale_data_s) is float and cfg.risk.stale_data_s == 5.0
    for value, message in (('"soon"', "shutdown.flatten_timeout_s: invalid decimal string"),
                           ('"nan"', "shutdown.flatten_timeout_s: must be a finite number"),
                           ("inf", "shutdown.flatten_timeout_s: must be a finite number"),
                           ("0", "shutdown.flatten_timeout_s: must be > 0")):
        text = replace_section(SHIPPED, "shutdown", f"flatten_timeout_s = {value}")
        with pytest.raises(ConfigError) as err:
            parse(text)
        assert str(err.value) == message


def test_perp_example_is_a_leveraged_swap() -> None:
    cfg = load(ROOT / "examples" / "ar_perp.toml")
    inst = cfg.market.instruments[0]
    assert (inst.symbol, inst.venue_leverage, inst.venue_margin_mode.value) == (
        "BTC/USDT:USDT", 3, "isolated")
    assert instruments_from_config(cfg)["BTC/USDT:USDT"].kind.value == "margin"


def _swap(lines: str, symbol: str = "BTC/USDT:USDT") -> str:
    text = SHIPPED.replace('symbol = "BTC/USDT"\nkind = "spot"',
                           f'symbol = "{symbol}"\n{lines}', 1)
    return text.replace('[strategy.params]\nsymbol = "BTC/USDT"',
                        f'[strategy.params]\nsymbol = "{symbol}"', 1)


@pytest.mark.parametrize(("lines", "symbol", "message"), [
    ("leverage = 2", "BTC/USDT", r"^market\.instruments\[0\]\.leverage: only for swaps"),
    ('margin_mode = "cross"\nkind = "spot"', "BTC/USDT:USDT",
     r"^market\.instruments\[0\]\.margin_mode: only for swaps"),
    ("leverage = 0", "BTC/USDT:USDT", r"^market\.instruments\[0\]\.leverage: must be 1 to 125"),
    ('margin_mode = "portfolio"', "BTC/USDT:USDT", r"^market\.instruments\[0\]\.margin_mode"),
    ("leverage = 5", "BTC/USDT:USDT",
     r"^market\.instruments\[0\]\.leverage: 5 is above risk\.max_leverage \(3\)"),
])
def test_swap_settings_are_checked(lines: str, symbol: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(_swap(lines, symbol))


def test_swap_settings_default_to_the_least_a_mistake_can_cost() -> None:
    inst = parse(_swap("kind = \"swap\"")).market.instruments[0]
    assert (inst.venue_leverage, inst.venue_margin_mode.value) == (1, "isolated")


def test_execution_and_flatten_twap_defaults() -> None:
    cfg = load(ROOT / "config.toml")
    assert cfg.execution.resume_algos is True and cfg.execution.max_active_algos == 16
    assert cfg.shutdown.flatten_twap_s == 0  # the fast flatten unless asked


@pytest.mark.parametrize(("section", "body", "message"), [
    ("shutdown", "flatten_timeout_s = 30\nflatten_twap_s = 16",
     r"^shutdown\.flatten_twap_s: must be at most half of flatten_timeout_s"),
    ("shutdown", "flatten_timeout_s = 30\nflatten_twap_s = 15", None),
    ("shutdown", "flatten_twap_s = -1", r"^shutdown\.flatten_twap_s: "),
    ("execution", "resume_algos = 1", r"^execution\.resume_algos: "),
    ("execution", "max_active_algos = 0", r"^execution\.max_active_algos: "),
    ("execution", "resume = false", r"^execution: unknown key|execution\.resume"),
])
def test_execution_and_flatten_twap_errors_name_the_key(section: str, body: str,
                                                        message: str | None) -> None:
    text = replace_section(SHIPPED, section, body)
    if message is None:
        assert parse(text).shutdown.flatten_twap_s == 15
        return
    with pytest.raises(ConfigError, match=message):
        parse(text)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('fill_model = "market"', 'fill_model = "best"', "paper.fill_model"),
    ("max_participation = 0.1", "max_participation = 1.5", "paper.max_participation: must be <= 1"),
    ("max_participation = 0.1", "max_participation = 0", "paper.max_participation: must be > 0"),
    ("latency_ms = 100", "latency_ms = -1", "paper.latency_ms: must be >= 0"),
    ("queue_ahead_s = 10", "queue_ahead_s = nan", "paper.queue_ahead_s: must be a finite"),
    ("fee_bps = 7.5", "fee_bps = 7.5\nmaker_fee_bps = -100", "paper.maker_fee_bps"),
])
def test_a_bad_fill_model_setting_is_named(old: str, new: str, message: str) -> None:
    assert old in SHIPPED
    with pytest.raises(ConfigError, match=rf"^{re.escape(message)}"):
        parse(SHIPPED.replace(old, new))
