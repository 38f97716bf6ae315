"""The daemon's configuration: frozen msgspec structs decoded from TOML.

Unknown keys are rejected and every error names its key path (`risk.max_order_notional: must be
> 0`), so an operator can fix a typo before it costs money. TOML floats are parsed as `Decimal`,
which keeps money exact; fractional settings are therefore typed `Decimal` here too. Durations
are the exception: `float` seconds (`*_s`), what every timer and sleep takes.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec

from daemon.config_errors import (
    describe_validation_error,
    non_finite_path,
    non_negative,
    positive,
)
from daemon.config_market import MAX_VENUE_LEVERAGE as MAX_VENUE_LEVERAGE
from daemon.config_market import InstrumentConfig as InstrumentConfig
from daemon.config_market import InstrumentKind as InstrumentKind
from daemon.config_market import MarginMode as MarginMode
from daemon.config_market import MarketConfig as MarketConfig
from daemon.config_market import MarketSource as MarketSource
from daemon.config_market import SimConfig as SimConfig
from daemon.config_market import SimPairConfig as SimPairConfig
from daemon.config_notify import NotifyConfig
from daemon.config_paper import PaperConfig
from daemon.model import TradingState


class ConfigError(Exception):
    """A configuration problem, already phrased as `key.path: what is wrong`."""


class Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class Mode(enum.Enum):
    PAPER = "paper"
    LIVE = "live"


class DaemonConfig(Base, frozen=True, forbid_unknown_fields=True):
    mode: Mode = Mode.PAPER
    state_dir: str = "state"
    log_level: str = "info"
    # Every order id starts with this, so orders of ours are recognisable on the venue.
    client_id_prefix: str = "td"

    def __post_init__(self) -> None:
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("log_level: must be one of debug, info, warning, error")
        if not re.fullmatch(r"[A-Za-z0-9]{1,8}", self.client_id_prefix):
            raise ValueError("client_id_prefix: must be 1-8 letters or digits")


class StrategyConfig(Base, frozen=True, forbid_unknown_fields=True):
    # `class` is a Python keyword, hence the rename: the TOML key stays `class`.
    class_path: str = msgspec.field(name="class")
    params: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", self.class_path):
            raise ValueError("class: must be 'module.path:ClassName'")


class ExchangeConfig(Base, frozen=True, forbid_unknown_fields=True):
    """How to reach a venue through ccxt. Credentials never come from here (see credentials)."""

    id: str = "binance"  # any ccxt exchange id
    sandbox: bool = False  # the venue's testnet, through ccxt's set_sandbox_mode
    # Merged into ccxt's urls["api"] / options: how a test or a self-hosted gateway points
    # ccxt somewhere else, and how venue quirks are set.
    api_urls: dict[str, Any] = {}
    options: dict[str, Any] = {}
    # Live mode trades this much quote currency, whatever else the account holds.
    allotted_capital: Decimal | None = None
    # Spot: base (per asset, e.g. {BTC = "0.05"}) this daemon may sell from the account's
    # holdings; on paper, a starting base inventory. Positions count from it (README).
    allotted_base: dict[str, Decimal] = {}
    timeout_ms: int = 10_000
    ws_silence_s: float = 10.0  # no trades for this long: fall back to REST polling
    rest_poll_s: float = 2.0
    fill_poll_s: float = 5.0  # REST check for fills/orders the websocket may miss
    reconnect_max_s: float = 30.0
    max_price_jump_bps: Decimal = Decimal(500)  # a trade this far from the last is bad data
    # After a timeout on create, look the order up by client id for this long before
    # concluding it never reached the venue (longer than the venue's recvWindow).
    order_lookup_s: float = 10.0
    # The venue's request limits, kept by us (venues/ccxt/budget.py); 0: what the venue
    # publishes (Binance's exchangeInfo), else ccxt's rateLimit for the weight.
    request_weight_per_minute: int = 0
    # "websocket": orders over the venue's websocket API where ccxt offers it, REST while
    # the socket is down (venues/ccxt/entry.py)
    order_entry: str = "rest"
    orders_per_10s: int = 0
    orders_per_day: int = 0

    def __post_init__(self) -> None:
        if self.order_entry not in ("rest", "websocket"):
            raise ValueError('order_entry: must be "rest" or "websocket"')
        for name in ("request_weight_per_minute", "orders_per_10s", "orders_per_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be 0 (the venue's own) or positive")
        if not re.fullmatch(r"[a-z0-9_]+", self.id):
            raise ValueError("id: must be a ccxt exchange id like 'binance'")
        if self.allotted_capital is not None:
            positive("allotted_capital", self.allotted_capital)
        for asset, qty in self.allotted_base.items():
            positive(f"allotted_base.{asset}", qty)
        positive("timeout_ms", self.timeout_ms)
        for name in ("ws_silence_s", "rest_poll_s", "fill_poll_s", "reconnect_max_s",
                     "max_price_jump_bps", "order_lookup_s"):
            positive(name, getattr(self, name))


class RiskConfig(Base, frozen=True, forbid_unknown_fields=True):
    """Pre-trade limits (the gate) and post-trade circuit breakers; reloaded on SIGHUP.

    Money is quote currency. Every field is documented in the README's risk table.
    """

    max_order_notional: Decimal
    max_position_notional: Decimal
    max_orders_per_second: int = 5
    initial_state: TradingState = TradingState.ACTIVE
    max_gross_exposure: Decimal = Decimal(50000)
    max_leverage: Decimal = Decimal(3)
    price_collar_bps: Decimal = Decimal(500)
    max_orders_per_minute: int = 60
    stale_data_s: float = 5.0
    max_daily_loss: Decimal = Decimal(1000)
    max_drawdown_pct: Decimal = Decimal(20)
    max_rejections_per_minute: int = 10
    # Venue answers that could not be read (HTTP 200, body not the record asked for).
    max_malformed_replies_per_minute: int = 30
    # Swaps: the venue's mark this close (percent of the mark) to the liquidation price it
    # reports for our position: no new risk, and flatten. 0 turns it off.
    liquidation_breaker_pct: Decimal = Decimal(5)
    # Swaps: deny new risk whose estimated liquidation price would be closer than this
    # (percent of the mark). 0 turns it off.
    min_liquidation_distance_pct: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_position_notional", "max_orders_per_second",
                     "max_gross_exposure", "max_leverage", "price_collar_bps",
                     "max_orders_per_minute", "stale_data_s", "max_daily_loss",
                     "max_drawdown_pct"):
            positive(name, getattr(self, name))
        if self.max_drawdown_pct >= 100:
            raise ValueError("max_drawdown_pct: must be < 100 (a percentage of the equity peak)")
        non_negative("max_rejections_per_minute", self.max_rejections_per_minute)
        non_negative("max_malformed_replies_per_minute", self.max_malformed_replies_per_minute)
        non_negative("liquidation_breaker_pct", self.liquidation_breaker_pct)
        non_negative("min_liquidation_distance_pct", self.min_liquidation_distance_pct)
        if self.liquidation_breaker_pct >= 100:
            raise ValueError("liquidation_breaker_pct: must be < 100 (a percentage of the mark)")


class ShutdownConfig(Base, frozen=True, forbid_unknown_fields=True):
    flatten_timeout_s: float = 30.0
    # 0: the fast flatten (back-to-back pieces). Else a position bigger than one order
    # (`risk.max_order_notional`) is closed by a TWAP over this long, inside the deadline.
    flatten_twap_s: float = 0.0

    def __post_init__(self) -> None:
        positive("flatten_timeout_s", self.flatten_timeout_s)
        non_negative("flatten_twap_s", self.flatten_twap_s)
        if self.flatten_twap_s and self.flatten_twap_s > self.flatten_timeout_s / 2:
            raise ValueError("flatten_twap_s: must be at most half of flatten_timeout_s, so "
                             "the fast flatten still has time for what the TWAP left")


class ExecutionConfig(Base, frozen=True, forbid_unknown_fields=True):
    """Execution algorithms (parent orders: TWAP, POV)."""

    # After a restart, a parent the journal shows unfinished resumes with what is left; false:
    # it is cancelled (journaled as such) and nothing more of it is sent.
    resume_algos: bool = True
    max_active_algos: int = 16

    def __post_init__(self) -> None:
        positive("max_active_algos", self.max_active_algos)


class MetricsConfig(Base, frozen=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:9464"

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("listen: must be 'host:port'")

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class HealthConfig(Base, frozen=True, forbid_unknown_fields=True):
    heartbeat_s: float = 10.0
    stale_data_s: float = 5.0

    def __post_init__(self) -> None:
        positive("heartbeat_s", self.heartbeat_s)
        positive("stale_data_s", self.stale_data_s)


class ControlConfig(Base, frozen=True, forbid_unknown_fields=True):
    """The operator control API (halt, resume, flatten, status): loopback or a unix socket only.

    `listen` and `unix` are exclusive; enabled with neither set listens on DEFAULT_LISTEN.
    """

    enabled: bool = False
    listen: str = ""
    unix: str = ""  # a socket path relative to daemon.state_dir

    DEFAULT_LISTEN: ClassVar[str] = "127.0.0.1:9465"

    def __post_init__(self) -> None:
        if self.listen and self.unix:
            raise ValueError("listen: set either listen or unix, not both")
        if self.listen:
            host, sep, port = self.listen.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("listen: must be 'host:port'")
            if not _is_loopback(host.strip("[]")):
                raise ValueError("listen: must be a loopback address (127.0.0.1, ::1 or "
                                 "localhost): the control API is not for the network")
        if self.unix:
            p = Path(self.unix)
            if p.is_absolute() or ".." in p.parts or not p.name:
                raise ValueError("unix: must be a relative path under daemon.state_dir")

    @property
    def address(self) -> str:
        return self.listen or self.DEFAULT_LISTEN

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnknownOrders(enum.Enum):
    CANCEL = "cancel"
    ADOPT = "adopt"


class ReconcileConfig(Base, frozen=True, forbid_unknown_fields=True):
    """Checking the journal against the venue: at startup (before trading) and periodically."""

    interval_s: float = 60.0
    # The position may exceed what the venue holds by this fraction of it before it is drift.
    tolerance_ratio: Decimal = Decimal("0.001")
    # Open orders with our client-id prefix that the journal does not know: cancel or adopt.
    unknown_orders: UnknownOrders = UnknownOrders.CANCEL

    def __post_init__(self) -> None:
        positive("interval_s", self.interval_s)
        non_negative("tolerance_ratio", self.tolerance_ratio)


class Config(Base, frozen=True, forbid_unknown_fields=True):
    market: MarketConfig
    strategy: StrategyConfig
    risk: RiskConfig
    daemon: DaemonConfig = DaemonConfig()
    paper: PaperConfig = PaperConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    execution: ExecutionConfig = ExecutionConfig()
    metrics: MetricsConfig = MetricsConfig()
    health: HealthConfig = HealthConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    control: ControlConfig = ControlConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    notify: NotifyConfig = NotifyConfig()  # webhooks and Telegram: daemon/config_notify.py
    # Where the file was read from: relative paths in it resolve against this directory.
    config_dir: str = msgspec.field(default=".", name="__config_dir__")

    def __post_init__(self) -> None:
        for n, inst in enumerate(self.market.instruments):
            if inst.leverage is not None and inst.leverage > self.risk.max_leverage:
                raise ValueError(f"market.instruments[{n}].leverage: {inst.leverage} is "
                                 f"above risk.max_leverage ({self.risk.max_leverage})")
        spot_bases = {ic.symbol.split("/", 1)[0] for ic in self.market.instruments
                      if ic.market_kind is InstrumentKind.SPOT}
        for asset in self.exchange.allotted_base:
            if asset not in spot_bases:
                raise ValueError(f"exchange.allotted_base.{asset}: not the base of a spot "
                                 f"instrument in market.instruments")
        if self.daemon.mode is Mode.LIVE:
            if self.market.source is not MarketSource.EXCHANGE:
                raise ValueError('market.source: live mode needs "exchange" market data')
            if self.exchange.allotted_capital is None:
                raise ValueError("exchange.allotted_capital: required in live mode: the daemon "
                                 "trades only the capital it is given")


T = TypeVar("T")


def convert(obj: object, type_: type[T], prefix: str = "") -> T:
    """Convert decoded TOML to a struct, raising `ConfigError` with the key path."""
    try:
        out = msgspec.convert(obj, type_, strict=True)
    except msgspec.ValidationError as err:
        raise ConfigError(describe_validation_error(err, prefix)) from None
    except ArithmeticError:  # a check compared a NaN that no range check caught first
        raise ConfigError(_not_finite(prefix, non_finite_path(obj, strings=True))) from None
    if (path := non_finite_path(out)) is not None:
        raise ConfigError(_not_finite(prefix, path))
    return out


def _not_finite(prefix: str, path: str | None) -> str:
    key = ".".join(p for p in (prefix, path or "") if p)
    return f"{key}: must be a finite number" if key else "a number is not finite"


def parse(text: str, config_dir: str = ".") -> Config:
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"malformed TOML: {err}") from None
    if "__config_dir__" in raw:
        raise ConfigError("__config_dir__: unknown key (not a setting; check the spelling)")
    raw["__config_dir__"] = config_dir
    _durations_from_strings(raw)
    return convert(raw, Config)


def _durations_from_strings(raw: dict[str, Any]) -> None:
    """Durations were `Decimal` fields, which also take a string (`flatten_timeout_s = "30"`);
    as `float` fields they would not. Such a string is read as the decimal it always was, so a
    config that validated before still does, and a bad one fails with the same message."""
    for section in msgspec.structs.fields(Config):
        table = raw.get(section.encode_name)
        kind = section.type
        if not isinstance(table, dict) or not (
                isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            continue
        for field in msgspec.structs.fields(kind):
            value = table.get(field.encode_name)
            if field.type is float and isinstance(value, str):
                try:
                    table[field.encode_name] = Decimal(value)
                except ArithmeticError:
                    raise ConfigError(f"{section.encode_name}.{field.encode_name}: invalid "
                                      f"decimal string") from None


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {p}: {err.strerror}") from None
    return parse(text, str(p.resolve().parent))


def resolve_path(config: Config, path: str) -> Path:
    """A path from the config, relative to the config file's directory."""
    p = Path(path)
    return p if p.is_absolute() else Path(config.config_dir) / p
