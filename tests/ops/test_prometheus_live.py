"""A real Prometheus, run with the SHIPPED configs, scraping a stand-in exporter.

Checks what promtool cannot: that the shipped scrape config actually reaches
a target (path, job and labels as the alerts and dashboard expect), that the
rule file loads and evaluates without errors, that every dashboard query is
valid PromQL returning data, and that the file_sd multi-instance config
resolves its target files relative to itself and labels instances.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.ops.metric_names import dashboard_exprs, names_in_promql, names_in_rules
from tests.ops.prometheus_server import Prometheus, render_config, run_prometheus, wait_for
from tests.ops.standin_exporter import StandIn, serve
from tests.ops.tools import REPO

PROM_DIR = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "tradingd-dashboard.json"


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with serve() as exporter:
        yield exporter


@pytest.fixture(scope="module")
def servers(
    standin: StandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Prometheus]]:
    """Both shipped configs, started together: Prometheus takes ~5 s to apply
    discovered targets, so starting them in parallel halves the wait."""
    single = tmp_path_factory.mktemp("prometheus")
    config = render_config(PROM_DIR / "prometheus.yml", single, target=standin.address)

    multi = tmp_path_factory.mktemp("prometheus-instances")
    multi_config = render_config(PROM_DIR / "prometheus-instances.yml", multi, target=None)
    targets = multi / "tradingd-targets"
    targets.mkdir()
    # Same shape as the shipped example file, pointed at the stand-in; the
    # second entry has no account label and must be marked, not merged.
    example = (PROM_DIR / "tradingd-targets" / "example.yml").read_text()
    assert "account: binance-main" in example
    port = standin.address.rsplit(":", 1)[1]
    (targets / "acct.yml").write_text(
        f'- targets: ["{standin.address}"]\n'
        "  labels:\n    account: binance-main\n    unit: tradingd@binance-main.service\n"
        f'- targets: ["localhost:{port}"]\n'
    )
    with ExitStack() as stack:
        yield {
            "single": stack.enter_context(run_prometheus(config, single)),
            "instances": stack.enter_context(run_prometheus(multi_config, multi)),
        }


@pytest.fixture
def prom(servers: dict[str, Prometheus]) -> Prometheus:
    return servers["single"]


def _up(prom: Prometheus) -> list[dict[str, Any]] | None:
    result = prom.query('up{job="tradingd"}')
    return result if result and result[0]["value"][1] == "1" else None


def test_target_is_up_and_trading_metric_queryable(prom: Prometheus, standin: StandIn) -> None:
    up = wait_for("up == 1", lambda: _up(prom))
    assert up[0]["metric"]["instance"] == standin.address
    result = prom.query("tradingd_equity")
    assert len(result) == 1
    series = result[0]
    assert float(series["value"][1]) == standin.equity
    # Labels the alerts and dashboard select on come from the shipped config.
    assert series["metric"]["job"] == "tradingd"
    assert series["metric"]["account"] == "default"


def _all_rules_ok(prom: Prometheus) -> list[dict[str, Any]] | None:
    groups = prom.get("/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    if rules and all(rule["health"] == "ok" for rule in rules):
        return rules
    return None


def test_alert_rules_load_and_evaluate_cleanly(prom: Prometheus) -> None:
    wait_for("up == 1", lambda: _up(prom))
    rules = wait_for("every rule evaluated with health ok", lambda: _all_rules_ok(prom))
    assert len(rules) == 21
    # The stand-in is healthy: nothing may be firing or pending.
    assert [r["name"] for r in rules if r["state"] != "inactive"] == []
    # Cross-check the stdlib YAML scanner in metric_names against the
    # expressions Prometheus itself parsed from the same file.
    parsed = set().union(*(names_in_promql(r["query"]) for r in rules))
    assert parsed == names_in_rules(PROM_DIR / "alerts.yml")


def _grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$account", ".*")


def test_every_dashboard_query_runs_and_returns_data(prom: Prometheus) -> None:
    wait_for("up == 1", lambda: _up(prom))
    # rate()/increase() need two samples inside their window.
    wait_for(
        "3 scrapes",
        lambda: prom.query('count_over_time(up{job="tradingd"}[1m]) >= 3') or None,
    )
    dashboard = json.loads(DASHBOARD.read_text())
    empty = []
    for expr in dashboard_exprs(dashboard):
        result = prom.query(_grafana_to_promql(expr))  # raises on invalid PromQL
        if not result:
            empty.append(expr)
    # Restarts annotation: correctly empty for a daemon that did not restart.
    assert empty == ['changes(tradingd_start_time_seconds{account=~"$account"}[2m]) > 0']


def test_instances_config_uses_file_sd_and_account_labels(
    servers: dict[str, Prometheus],
) -> None:
    prom = servers["instances"]
    result = wait_for(
        "both file_sd targets up",
        lambda: (lambda r: r if len(r) == 2 else None)(prom.query('up{job="tradingd"} == 1')),
    )
    accounts = sorted(series["metric"]["account"] for series in result)
    assert accounts == ["binance-main", "unlabelled"]
    equity = prom.query('tradingd_equity{account="binance-main"}')
    assert equity[0]["metric"]["unit"] == "tradingd@binance-main.service"
