"""health-check.sh against a real snip under gunicorn, with real PostgreSQL and Redis.

Proves the three verdicts and their exit codes: healthy (0), degraded when Redis is
stopped (1, snip still serves), down when the database is gone or nothing answers (2);
and that a canary short link is followed as a redirect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.scripts.helpers import explain, run_script
from tests.support import servers


@pytest.fixture
def snip(postgres_admin_url, throwaway_redis) -> Iterator[tuple[servers.SnipServer, str]]:
    """snip on its own database and Redis (both may be broken by the test)."""
    db_url = servers.create_database(postgres_admin_url, prefix="snip_hc")
    env = servers.snip_env(
        DATABASE_URL=db_url, REDIS_URL=throwaway_redis.url, SNIP_ALLOW_ANONYMOUS_CREATE="true"
    )
    servers.run_snip_cli("db", "upgrade", env=env)
    server = servers.SnipServer(env=env).start()
    try:
        yield server, db_url
    finally:
        server.stop()
        servers.drop_database(postgres_admin_url, db_url)


def health(*args: str):
    return run_script("health-check.sh", *args, "--max-time", "5")


def test_healthy_with_canary(snip):
    server, _ = snip
    created = requests.post(
        f"{server.url}/api/v1/links",
        json={"url": "https://example.org/canary", "slug": "canary"},
        timeout=5,
    )
    assert created.status_code == 201, created.text

    result = health("--url", server.url, "--canary", "canary", "--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)
    assert report["status"] == "healthy"
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "healthz": "ok",
        "readyz": "ok",
        "canary": "ok",
    }


def test_unknown_canary_is_down(snip):
    server, _ = snip
    result = health("--url", server.url, "--canary", "no-such-link")
    assert result.returncode == 2, explain(result)
    assert "expected a redirect" in result.stdout


def test_redis_stopped_is_degraded(snip, throwaway_redis):
    server, _ = snip
    throwaway_redis.stop()
    result = health("--url", server.url)
    assert result.returncode == 1, explain(result)
    assert "DEGRADED" in result.stdout and "overall: degraded" in result.stdout


def test_database_gone_is_down(snip, postgres_admin_url):
    server, db_url = snip
    servers.drop_database(postgres_admin_url, db_url)  # kills the connections too
    result = health("--url", server.url, "--json")
    assert result.returncode == 2, explain(result)
    report = json.loads(result.stdout)
    assert report["status"] == "down"
    assert [c["status"] for c in report["checks"] if c["name"] == "readyz"] == ["down"]


def test_nothing_listening_is_down():
    result = health("--url", f"http://127.0.0.1:{servers.free_port()}")
    assert result.returncode == 2, explain(result)
    assert "no answer" in result.stdout


def test_slow_answers_are_degraded(snip):
    server, _ = snip
    # A 0 ms budget: every real answer is "too slow", proving the latency check bites.
    result = health("--url", server.url, "--slow-ms", "0")
    assert result.returncode == 1, explain(result)
    assert "latency" in result.stdout


def test_usage_errors():
    assert run_script("health-check.sh").returncode == 64
    assert run_script("health-check.sh", "--bogus").returncode == 64
