"""Dashboards and alert rules only use metric names the daemon contract defines."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.ops.metric_names import (
    family_of,
    load_contract,
    names_in_dashboard,
    names_in_exposition,
    names_in_promql,
    names_in_rules,
    rule_exprs,
    unknown_names,
)
from tests.ops.tools import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "tradingd-dashboard.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
CONTRACT = load_contract()


def test_contract_is_well_formed() -> None:
    assert len(CONTRACT) == 53
    for name, kind in CONTRACT.items():
        assert re.fullmatch(r"tradingd_[a-z0-9_]+", name), name
        # prometheus_client appends _total to counters; the contract lists
        # the exposed name, so every counter ends in it and nothing else does.
        assert name.endswith("_total") == (kind == "counter"), name
    assert {n for n, k in CONTRACT.items() if k == "histogram"} == {
        "tradingd_bar_to_order_latency_seconds",
        "tradingd_order_ack_latency_seconds",
        "tradingd_market_data_lag_seconds",
    }


@pytest.mark.parametrize(
    ("series", "family"),
    [
        ("tradingd_equity", "tradingd_equity"),
        ("tradingd_orders_total", "tradingd_orders_total"),
        ("tradingd_orders_created", "tradingd_orders_total"),
        ("tradingd_order_ack_latency_seconds_bucket", "tradingd_order_ack_latency_seconds"),
        ("tradingd_order_ack_latency_seconds_count", "tradingd_order_ack_latency_seconds"),
        ("tradingd_order_ack_latency_seconds_sum", "tradingd_order_ack_latency_seconds"),
        ("tradingd_equity_bucket", None),  # a gauge has no buckets
        ("tradingd_orders", None),  # counters are only queryable with _total
        ("tradingd_fills_total_total", None),
        ("tradingd_equitty", None),
    ],
)
def test_family_of_handles_suffixes_by_type(series: str, family: str | None) -> None:
    assert family_of(series, CONTRACT) == family


def test_promql_extraction_ignores_label_values() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le) (rate(tradingd_order_ack_latency_seconds_bucket"
        "{job=\"tradingd_fake_job\", unit=~'tradingd_x.*'}[5m]))) > on(instance) tradingd_ready"
    )
    assert names_in_promql(expr) == {"tradingd_order_ack_latency_seconds_bucket", "tradingd_ready"}


def test_rule_scanner_reads_inline_and_block_exprs() -> None:
    text = ALERTS.read_text()
    exprs = rule_exprs(text)
    assert len(exprs) == len(re.findall(r"^\s*- alert:", text, re.MULTILINE)) == 21
    assert 'up{job="tradingd"} == 0' in exprs
    drawdown = next(e for e in exprs if "drawdown" in e)
    assert "tradingd_drawdown_ratio" in drawdown and "/ 100" in drawdown


def test_dashboard_uses_only_contract_metrics() -> None:
    names = names_in_dashboard(DASHBOARD)
    assert unknown_names(names, CONTRACT) == []
    # Every contract family is shown somewhere: a metric nobody can see is
    # either dead code in the daemon or a gap in the dashboard.
    unused = set(CONTRACT) - {family_of(n, CONTRACT) for n in names}
    assert unused == set()


def test_alert_rules_use_only_contract_metrics() -> None:
    names = names_in_rules(ALERTS)
    assert unknown_names(names, CONTRACT) == []
    assert {
        "tradingd_ready",
        "tradingd_trading_state",
        "tradingd_market_data_age_seconds",
        "tradingd_circuit_breaker_trips_total",
        "tradingd_drawdown_ratio",
        "tradingd_risk_limit",
        "tradingd_exchange_rejections_total",
        "tradingd_start_time_seconds",
        "tradingd_reconciliation_drift_total",
        "tradingd_journal_lost",
        "tradingd_unresolved_orders",
        "tradingd_open_fds",
        "tradingd_max_fds",
        "tradingd_control_unauthorized_total",
    } <= names


def test_unknown_name_is_reported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][1]["targets"][0]["expr"] = "tradingd_equitty + tradingd_fills_total"
    names = {n for t in dashboard["panels"][1]["targets"] for n in names_in_promql(t["expr"])}
    assert unknown_names(names, CONTRACT) == ["tradingd_equitty"]


def test_exposition_names_map_to_families() -> None:
    """The helper the daemon /metrics test will use, on real client output."""
    registry = CollectorRegistry()
    Counter("tradingd_orders", "Orders.", ["outcome"], registry=registry).labels("filled").inc()
    Histogram("tradingd_order_ack_latency_seconds", "Ack.", registry=registry).observe(0.1)
    Gauge("tradingd_equity", "Equity.", registry=registry).set(1.0)
    Gauge("tradingd_not_in_contract", "Oops.", registry=registry).set(1.0)
    names = names_in_exposition(generate_latest(registry).decode())
    assert {"tradingd_orders_total", "tradingd_order_ack_latency_seconds_bucket"} <= names
    assert unknown_names(names, CONTRACT) == ["tradingd_not_in_contract"]
