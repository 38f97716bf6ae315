"""Which tradingd_* metric families do dashboards, rules and /metrics use?

Owns three reusable things for tests that compare artefacts against the
metric contract in ``deploy/metrics_contract.txt`` (the one list of names):

* ``load_contract()``      -> {family name: type}
* ``family_of()``          -> the contract family a series name belongs to,
                              with exposition suffixes handled by type:
                              histogram ``_bucket/_sum/_count/_created``,
                              counter ``_total`` (and its ``_created`` twin)
* ``names_in_promql()`` and the file-level helpers built on it
  (``names_in_dashboard()``, ``dashboard_exprs()``, ``rule_exprs()``,
  ``names_in_exposition()``).

Stdlib only (the venv has no YAML parser, and pyproject is not ours to
change), so ``rule_exprs()`` reads the ``expr:`` fields of a Prometheus rule
file with a small scanner for the two forms rule files use (inline and
``|``/``>`` block scalars). The live Prometheus test cross-checks it against
the expressions Prometheus itself parsed from the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "deploy" / "metrics_contract.txt"

_NAME = re.compile(r"\btradingd_[A-Za-z0-9_]*[A-Za-z0-9]")
# PromQL string literals; their contents are label values, not metric names.
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "counter": ("_created",),
}


def load_contract(path: Path = CONTRACT) -> dict[str, str]:
    """Family name -> type ("gauge", "counter", "histogram") from the contract file."""
    contract: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, kind = line.split()
        if kind not in ("gauge", "counter", "histogram"):
            raise ValueError(f"{path}: unknown type {kind!r} for {name}")
        if name in contract:
            raise ValueError(f"{path}: {name} listed twice")
        contract[name] = kind
    return contract


def family_of(series: str, contract: dict[str, str]) -> str | None:
    """The contract family that exposes ``series``, or None if none does.

    ``tradingd_orders_total`` -> itself; ``tradingd_x_seconds_bucket`` ->
    ``tradingd_x_seconds`` only if that is a histogram (a gauge has no
    buckets); ``tradingd_orders_created`` -> ``tradingd_orders_total``.
    """
    if series in contract:
        return series
    for family, kind in contract.items():
        base = family.removesuffix("_total") if kind == "counter" else family
        if any(series == base + suffix for suffix in _SUFFIXES.get(kind, ())):
            return family
    return None


def names_in_promql(expr: str) -> set[str]:
    """Every ``tradingd_*`` metric name an expression references."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


def _walk_queries(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _walk_queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_queries(item)


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """All PromQL strings in a Grafana dashboard (panels, variables, annotations)."""
    return list(_walk_queries(dashboard))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Only the PromQL expressions Prometheus evaluates (panel targets, annotations).

    Variable queries like ``label_values(...)`` are Grafana syntax, not PromQL.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


def names_in_dashboard(path: Path) -> set[str]:
    dashboard = json.loads(path.read_text())
    return set().union(*(names_in_promql(q) for q in dashboard_queries(dashboard)))


def rule_exprs(text: str) -> list[str]:
    """The ``expr:`` values of a Prometheus rule file, in order."""
    exprs: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", lines[i])
        i += 1
        if not match:
            continue
        indent, value = len(match.group(1)), match.group(2).strip()
        if value[:1] in ("|", ">"):
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
                block.append(lines[i].strip())
                i += 1
            exprs.append(" ".join(part for part in block if part))
        else:
            exprs.append(_unquote(_strip_comment(value)))
    return exprs


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _strip_comment(value: str) -> str:
    if value[:1] in ("'", '"'):
        return value
    return value.split(" #", 1)[0].strip()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return str(json.loads(value))
    return value


def names_in_rules(path: Path) -> set[str]:
    return set().union(*(names_in_promql(e) for e in rule_exprs(path.read_text())))


def names_in_exposition(text: str) -> set[str]:
    """Series names in a Prometheus text exposition (e.g. a /metrics body)."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = _NAME.match(line)
            if match:
                names.add(match.group(0))
    return names


def unknown_names(names: Iterable[str], contract: dict[str, str]) -> list[str]:
    """Referenced names no contract family exposes, sorted (empty = all good)."""
    return sorted(n for n in set(names) if family_of(n, contract) is None)
