"""Config files that point the daemon at the local fake exchange."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.configs import SHIPPED, replace_section


def toml_value(value: Any) -> str:
    """A TOML inline value: enough of the format for ccxt's urls and options."""
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def exchange_config(tmp: Path, ccxt_config: dict[str, Any], mode: str = "live",
                    strategy: tuple[str, str] | None = None, capital: str = "1000",
                    flatten_timeout_s: int = 20, extra_exchange: str = "", lookup_s: str = "4",
                    sections: dict[str, str] | None = None, symbol: str = "BTC/USDT",
                    exchange_id: str = "binance", instrument: str = "") -> Path:
    """Live (or paper) mode on the fake exchange's markets, 1 s bars by default. `sections`
    replaces whole sections of the shipped config (e.g. `reconcile`). Swaps: `symbol` like
    "BTC/USDT:USDT", `exchange_id = "binanceusdm"` and the fake's futures ccxt config;
    `instrument` adds lines to the instrument (`leverage = 2`)."""
    cls, params = strategy or ("strategies.ar_forecast:ARForecastStrategy",
                               'symbol = "BTC/USDT"\nbar_interval_s = 1\n'
                               'allow_interval_mismatch = true\nscale = "0.5"')
    text = SHIPPED
    text = replace_section(text, "daemon", f'mode = "{mode}"\nstate_dir = "{tmp}/state"')
    text = replace_section(text, "market", 'source = "exchange"')
    # The grid comes from the exchange's markets: only the symbol is configured.
    text = text.replace(text[text.index("[market.sim]"):text.index("[paper]")],
                        f'[[market.instruments]]\nsymbol = "{symbol}"\n{instrument}\n')
    text = replace_section(text, "metrics", 'listen = "127.0.0.1:0"')
    text = replace_section(text, "shutdown", f"flatten_timeout_s = {flatten_timeout_s}")
    text = replace_section(text, "health", "heartbeat_s = 1\nstale_data_s = 5")
    text = replace_section(text, "strategy", f'class = "{cls}"')
    text = replace_section(text, "strategy.params", params)
    for header, body in (sections or {}).items():
        text = replace_section(text, header, body)
    text += (f'\n[exchange]\nid = "{exchange_id}"\nallotted_capital = "{capital}"\n'
             f'api_urls = {toml_value(ccxt_config["urls"]["api"])}\n'
             f'options = {toml_value(ccxt_config["options"])}\n'
             f"ws_silence_s = 3\nrest_poll_s = 0.5\nfill_poll_s = 1\norder_lookup_s = {lookup_s}\n"
             f"{extra_exchange}")
    path = tmp / "config.toml"
    path.write_text(text)
    return path
