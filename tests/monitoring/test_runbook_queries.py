"""The PromQL in Runbook.md's alert sections is what a newcomer pastes at 3 a.m.:
every query there must be accepted by a real Prometheus."""

from __future__ import annotations

import re

import pytest

from tests.monitoring import stack


def _runbook_queries() -> list[str]:
    text = stack.RUNBOOK.read_text()
    alerts = text.split("<!-- BEGIN ALERTS -->", 1)[1].split("<!-- END ALERTS -->", 1)[0]
    blocks = re.findall(r"```promql\n(.*?)```", alerts, flags=re.DOTALL)
    return sorted({line.strip() for block in blocks for line in block.splitlines() if line.strip()})


QUERIES = _runbook_queries()


def test_the_runbook_has_queries_to_check():
    assert len(QUERIES) > 20


@pytest.mark.parametrize("expr", QUERIES)
def test_prometheus_accepts_the_runbook_query(prometheus: stack.Daemon, expr: str):
    answer = stack.query(prometheus, expr)
    assert answer["status"] == "success", answer.get("error")
