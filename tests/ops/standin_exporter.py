"""A stand-in for tradingd's /metrics, for tests that need a live scrape target.

Owns a prometheus_client registry exposing EVERY family in
deploy/metrics_contract.txt, with the contract's label names and plausible
healthy values (ready, active, fresh data, no breaker trips), served on a
loopback port. Built from the contract file, so a family added there shows
up here. Replaced by the real daemon once it exists.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tests.ops.metric_names import load_contract

# label name -> values to populate, per family (contract label names).
LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "tradingd_build_info": {"version": ("0.1.0",), "python": ("3.11",)},
    "tradingd_position": {"instrument": ("BTC/USDT", "ETH/USDT")},
    "tradingd_position_notional": {"instrument": ("BTC/USDT", "ETH/USDT")},
    "tradingd_working_orders": {"instrument": ("BTC/USDT", "ETH/USDT")},
    "tradingd_market_data_age_seconds": {"instrument": ("BTC/USDT", "ETH/USDT")},
    "tradingd_market_data_path": {"path": ("sim", "replay", "websocket", "rest")},
    "tradingd_risk_limit": {"limit": ("max_drawdown_pct", "max_daily_loss")},
    "tradingd_orders_total": {
        "outcome": ("submitted", "filled", "cancelled", "rejected", "denied")
    },
    "tradingd_exchange_rejections_total": {"reason": ("insufficient_funds",)},
    "tradingd_risk_denials_total": {"reason": ("max_position",)},
    "tradingd_market_data_messages_total": {"kind": ("trade", "ohlcv")},
    "tradingd_market_data_dropped_total": {"reason": ("stale",)},
    "tradingd_exchange_errors_total": {"error": ("NetworkError",)},
    "tradingd_circuit_breaker_trips_total": {
        "breaker": ("daily_loss", "drawdown", "rejections", "malformed_replies",
                    "reconciliation", "journal", "kill_switch")
    },
    "tradingd_http_connections": {"listener": ("monitor", "control")},
    "tradingd_http_connections_dropped_total": {"listener": ("monitor",),
                                                "reason": ("header_timeout",)},
}

GAUGE_VALUES: dict[str, float] = {
    "tradingd_build_info": 1.0,
    "tradingd_equity": 10_250.5,
    "tradingd_cash": 4_000.0,
    "tradingd_realized_pnl": 200.0,
    "tradingd_unrealized_pnl": 50.5,
    "tradingd_daily_pnl": 35.0,
    "tradingd_equity_peak": 10_400.0,
    "tradingd_drawdown_ratio": 0.0144,
    "tradingd_position": 0.1,
    "tradingd_position_notional": 6_000.0,
    "tradingd_working_orders": 1.0,
    "tradingd_trading_state": 0.0,
    "tradingd_ready": 1.0,
    "tradingd_market_data_age_seconds": 0.8,
    "tradingd_event_loop_lag_seconds": 0.002,
    "tradingd_risk_limit": 10.0,
    "tradingd_open_fds": 40.0,
    "tradingd_max_fds": 4096.0,
}
# Counters that must stay at 0 on a healthy daemon (they drive alerts).
QUIET_COUNTERS = {
    "tradingd_circuit_breaker_trips_total",
    "tradingd_reconciliation_drift_total",
    "tradingd_exchange_rejections_total",
    "tradingd_control_unauthorized_total",
}


@dataclass
class StandIn:
    registry: CollectorRegistry
    address: str  # host:port
    equity: float


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for family, kind in load_contract().items():
        labels = LABELS.get(family, {})
        names = list(labels)
        # One child per value of a single label; multi-label families (build
        # info) get one child with the first value of each label.
        combos: list[tuple[str, ...]] = [tuple(v[0] for v in labels.values())]
        if len(names) == 1:
            combos = [(value,) for value in labels[names[0]]]
        doc = f"stand-in for {family}"
        if kind == "gauge":
            gauge = gauges[family] = Gauge(family, doc, names, registry=registry)
            for combo in combos:
                value = GAUGE_VALUES.get(family, 0.0)
                if family == "tradingd_market_data_path":
                    value = 1.0 if combo == ("websocket",) else 0.0
                (gauge.labels(*combo) if names else gauge).set(value)
        elif kind == "counter":
            counter = Counter(family.removesuffix("_total"), doc, names, registry=registry)
            for combo in combos:
                step = 0.0 if family in QUIET_COUNTERS else 3.0
                (counter.labels(*combo) if names else counter).inc(step)
        else:
            histogram = Histogram(family, doc, registry=registry)
            for sample in (0.004, 0.02, 0.09):
                histogram.observe(sample)
    # Timestamps come from the clock: started an hour ago, reconciled 30 s ago.
    now = time.time()
    gauges["tradingd_start_time_seconds"].set(now - 3600)
    gauges["tradingd_last_reconciliation_timestamp_seconds"].set(now - 30)
    return registry


@contextmanager
def serve() -> Iterator[StandIn]:
    """Serve the stand-in on 127.0.0.1:<free port> until the block exits."""
    registry = build_registry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        port = server.server_address[1]
        yield StandIn(registry, f"127.0.0.1:{port}", GAUGE_VALUES["tradingd_equity"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
