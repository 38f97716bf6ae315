"""Static checks of the Grafana dashboard and its provisioning files.

No Grafana server is available from the package registries (it is not in
Debian), so this checks what Grafana would trip over or silently mis-render:
duplicate ids/refIds, overlapping panels, panels bound to a datasource other
than the provisioned one, and provisioning paths that install.sh does not
use. Every panel query is also evaluated by a real Prometheus in
test_prometheus_live.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.ops.metric_names import dashboard_exprs
from tests.ops.tools import REPO

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD: dict[str, Any] = json.loads((GRAFANA / "tradingd-dashboard.json").read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def test_dashboard_identity() -> None:
    assert DASHBOARD["uid"] == "tradingd-overview"
    assert DASHBOARD["title"] == "tradingd"
    assert "id" not in DASHBOARD  # provisioned dashboards must not pin a DB id


def test_panel_ids_unique_and_refids_unique_per_panel() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in PANELS:
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]


def test_panels_fit_the_grid_without_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_uses_the_datasource_variable() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in PANELS:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert "$account" in target["expr"] or "tradingd_" not in target["expr"], target


def test_default_datasource_is_the_provisioned_one() -> None:
    provisioned = (GRAFANA / "provisioning" / "datasources.yml").read_text()
    uid = re.search(r"^\s+uid:\s*(\S+)", provisioned, re.MULTILINE)
    assert uid
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == uid.group(1)
    assert "type: prometheus" in provisioned


def test_dashboard_provider_path_is_where_install_puts_the_json() -> None:
    provider = (GRAFANA / "provisioning" / "dashboards.yml").read_text()
    path = re.search(r"^\s+path:\s*(\S+)", provider, re.MULTILINE)
    assert path
    install = (REPO / "deploy" / "install.sh").read_text()
    assert path.group(1) in install
    assert "tradingd-dashboard.json" in install


@pytest.mark.parametrize(
    ("title", "needle"),
    [
        ("Equity", "tradingd_equity"),
        ("PnL", "tradingd_daily_pnl"),
        ("Drawdown vs limit", 'limit="max_drawdown_pct"'),
        ("Position (base qty, signed)", "tradingd_position{"),
        ("Orders by outcome", "tradingd_orders_total"),
        ("Risk denials by reason", "reason"),
        ("Order acknowledgement", "histogram_quantile(0.99"),
        ("Market data age", "tradingd_market_data_age_seconds"),
        ("Trading state", "tradingd_trading_state"),
        ("Ready", "tradingd_ready"),
    ],
)
def test_required_panels_exist(title: str, needle: str) -> None:
    panel = next((p for p in PANELS if p["title"] == title), None)
    assert panel is not None, f"no panel {title!r}"
    assert any(needle in t["expr"] for t in panel["targets"])


def test_latency_quantiles_aggregate_buckets_by_le() -> None:
    quantiles = [e for e in dashboard_exprs(DASHBOARD) if "histogram_quantile" in e]
    assert len(quantiles) == 9  # 3 histograms x p50/p95/p99
    for expr in quantiles:
        assert "_bucket{" in expr and "by (le" in expr and "rate(" in expr, expr


def test_trading_state_mapping_matches_contract() -> None:
    panel = next(p for p in PANELS if p["title"] == "Trading state")
    texts = {
        value: option["text"]
        for mapping in panel["fieldConfig"]["defaults"]["mappings"]
        for value, option in mapping["options"].items()
    }
    assert texts == {"0": "ACTIVE", "1": "REDUCING", "2": "HALTED"}
