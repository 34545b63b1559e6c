"""A real Prometheus loaded with snip's rules, shared by the query checks."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitoring import stack


@pytest.fixture(scope="session")
def prometheus() -> Iterator[stack.Daemon]:
    """No targets: it exists to parse and run queries (dashboards, Runbook)."""
    with tempfile.TemporaryDirectory(prefix="snip-prometheus-") as workdir:
        config = stack.loopback_prometheus_config({}, stack.RULE_FILES, alertmanager=None)
        daemon = stack.prometheus(Path(workdir), config)
        with stack.running(daemon):
            yield daemon
