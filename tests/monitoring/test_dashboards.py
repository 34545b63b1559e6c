"""Grafana dashboards: tidy JSON, stable unique uids, and every panel query
accepted by a real Prometheus loaded with snip's rules.

No Grafana server runs here: the dashboards are proven through their queries
(scripts/monitoring/dashboard-checker.py is what talks to a Grafana).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring import stack
from tests.monitoring.stack import DASHBOARDS, RULE_FILES, load_yaml
from tests.support.servers import REPO_ROOT

# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
EXPECTED_UIDS = {"snip-overview", "snip-postgres", "snip-redis", "snip-backups"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels folded into a row


def _queries() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in _panels(_load(path)):
            for target in panel.get("targets", []):
                found.append((f"{path.stem}: {panel['title']} [{target['refId']}]", target["expr"]))
    return found


QUERIES = _queries()


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_is_tidy_json(path: Path):
    """Stored exactly as json.dumps(indent=2) writes it, so diffs stay readable."""
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_the_four_dashboards_have_stable_unique_uids():
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))
    assert set(uids) == EXPECTED_UIDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_panels_have_unique_ids_and_use_the_datasource_variable(path: Path):
    dashboard = _load(path)
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert any(v["name"] == "datasource" for v in dashboard["templating"]["list"])
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"


def test_every_metric_a_dashboard_reads_is_in_the_contract_or_the_rules():
    """snip_* names must be in docs/interfaces.md; snip:* names must be recorded."""
    contract = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    documented = set(re.findall(r"`(snip_[a-z_]+)`", contract))
    recorded = {
        rule["record"]
        for docs in load_yaml(*RULE_FILES)
        for g in docs[0]["groups"]
        for rule in g["rules"]
        if "record" in rule
    }
    for where, expr in QUERIES:
        for name in re.findall(r"\bsnip_[a-z_]+", expr):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in documented, f"{where}: {name} is not in docs/interfaces.md"
        for name in re.findall(r"\bsnip:[a-z0-9_:]+", expr):
            assert name in recorded, f"{where}: {name} is not a recording rule"


@pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[w for w, _ in QUERIES])
def test_prometheus_accepts_the_panel_query(prometheus: stack.Daemon, where: str, expr: str):
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"{where}: unknown Grafana variable in {expr}"
    answer = stack.query(prometheus, expr)
    assert answer["status"] == "success", f"{where}: {answer.get('error')}"
