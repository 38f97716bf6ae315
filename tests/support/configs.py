"""Config files for tests: the shipped config.toml with sections replaced."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "config.toml").read_text()


def replace_section(text: str, header: str, body: str) -> str:
    """Replace the body of `[header]` (up to the next section) with `body`."""
    pattern = re.compile(rf"^\[{re.escape(header)}\]\n(?:(?!\[).*\n)*", re.MULTILINE)
    new, n = pattern.subn(f"[{header}]\n{body.strip()}\n\n", text, count=1)
    if n != 1:
        raise KeyError(header)
    return new


AR_FAST = ("strategies.ar_forecast:ARForecastStrategy",
           'symbol = "BTC/USDT"\nbar_interval_s = 1\nallow_interval_mismatch = true')
BUY_ONCE = ("tests.support.strategies:BuyOnce", 'symbol = "BTC/USDT"\nqty = "0.01"')
CRASH_AFTER_FILL = (BUY_ONCE[0], BUY_ONCE[1] + "\ncrash_after_fill = true")


def fast_config(tmp: Path, strategy: tuple[str, str] = AR_FAST,
                extra: dict[str, str] | None = None, flatten_timeout_s: int = 10,
                kind: str = "swap") -> Path:
    """A test config: 1 s bars, metrics on a free port, state under tmp, the sim's BTC/USDT
    traded as `kind` (the shipped config's spot is long-only; most tests go both ways), the
    touch fill model.

    `strategy` is (class path, body of [strategy.params]); `extra` replaces whole sections.
    """
    text = SHIPPED.replace('kind = "spot"', f'kind = "{kind}"', 1)
    text = replace_section(text, "daemon", f'mode = "paper"\nstate_dir = "{tmp}/state"')
    text = replace_section(text, "metrics", 'listen = "127.0.0.1:0"')
    # Whole fills at the touch: these tests pin quantities and the lifecycle around them. The
    # market fill model runs on the sim in the shipped config's own tests (test_examples,
    # test_fill_model_sim), and replays in tests/component.
    text = text.replace('fill_model = "market"', 'fill_model = "touch"', 1)
    text = replace_section(text, "shutdown", f"flatten_timeout_s = {flatten_timeout_s}")
    text = replace_section(text, "health", "heartbeat_s = 1\nstale_data_s = 5")
    text = replace_section(text, "strategy", f'class = "{strategy[0]}"')
    text = replace_section(text, "strategy.params", strategy[1])
    for header, body in (extra or {}).items():
        text = replace_section(text, header, body)
    path = tmp / "config.toml"
    path.write_text(text)
    return path


# --- risk and control sections ----------------------------------------------------------------

RISK = {"max_order_notional": '"20000"', "max_position_notional": '"25000"',
        "max_gross_exposure": '"50000"', "max_leverage": '"3"', "price_collar_bps": "500",
        "max_orders_per_second": "5", "max_orders_per_minute": "60", "stale_data_s": "5",
        "max_daily_loss": '"1000"', "max_drawdown_pct": "20", "max_rejections_per_minute": "10"}
PULSE = ("tests.support.risk_strategies:Pulse", 'symbol = "BTC/USDT"\nqty = "0.01"')
CONTROL_TCP = 'enabled = true\nlisten = "127.0.0.1:0"'
CONTROL_UNIX = 'enabled = true\nunix = "control.sock"'
ETH_INSTRUMENT = """
[[market.instruments]]
symbol = "ETH/USDT"
price_increment = "0.01"
size_increment = "0.0001"
min_qty = "0.0001"
max_qty = "9000"
min_notional = "5"
start_price = "3000"
"""


def risk(**overrides: object) -> str:
    """A whole [risk] body: the shipped limits with some replaced (values as TOML text)."""
    return "\n".join(f"{k} = {v}" for k, v in {**RISK, **overrides}.items())


# The head of every in-process daemon config (tests/component): the sim's BTC/USDT on Binance's
# grid, traded as a swap (long or short), quiet logs, a state dir relative to the test's tmp
# dir, a free metrics port. A test adds its own [paper], [strategy] and [risk] sections.
IN_PROCESS_HEAD = """
[daemon]
state_dir = "state"
log_level = "warning"
[metrics]
listen = "127.0.0.1:0"
[market]
[[market.instruments]]
symbol = "BTC/USDT"
kind = "swap"
price_increment = "0.01"
size_increment = "0.00001"
min_qty = "0.00001"
max_qty = "9000"
min_notional = "5"
"""
