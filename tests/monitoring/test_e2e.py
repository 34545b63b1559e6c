"""End to end on loopback, with real servers only: snip under gunicorn with
three workers, PostgreSQL, a private Redis, both exporters, the Pushgateway,
Prometheus and Alertmanager, and a webhook this test runs.

It proves, in order:
1. Prometheus scrapes every target, with the job names the rules use;
2. snip's counters add up across workers: N redirects sent, N counted;
3. the PostgreSQL and Redis dashboards' queries find data from the real exporters;
4. a pushed backup result keeps its job="snip-backup" label (honor_labels);
5. stopping Redis fires RedisDown, which reaches the webhook through the
   committed Alertmanager routing (operator receiver; Watchdog to its own), with
   its runbook_url;
6. starting Redis again on the same port resolves it, and the webhook hears so.

The rule `for:` durations are cut to 1 s and the intervals to 1 s (see
tests/monitoring/stack.py); nothing sleeps a fixed time, everything polls with
a deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.monitoring import stack
from tests.support import servers

N_REDIRECTS = 40
WORKERS = 3
LOCAL_JOBS = [
    "prometheus",
    "snip-api",
    "postgres-exporter",
    "redis-exporter",
    "pushgateway",
    "alertmanager",
]


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this test's own, migrated."""
    url = servers.create_database(postgres_admin_url, prefix="snip_monitoring")
    yield url
    servers.drop_database(postgres_admin_url, url)


@pytest.mark.slow
def test_alerts_and_counters_end_to_end(
    tmp_path: Path, database_url: str, throwaway_redis: servers.RedisServer
) -> None:
    # Redis with a memory limit, like production, so the memory panels have data.
    redis.Redis.from_url(throwaway_redis.url).config_set("maxmemory", "64mb")

    env = servers.snip_env(
        DATABASE_URL=database_url, REDIS_URL=throwaway_redis.url, SNIP_ALLOW_ANONYMOUS_CREATE="true"
    )
    servers.run_snip_cli("db", "upgrade", env=env)
    snip = servers.SnipServer(env=env, workers=WORKERS)

    pg_exporter = stack.postgres_exporter(tmp_path, database_url)
    redis_exporter = stack.redis_exporter(tmp_path, throwaway_redis.url)
    pushgateway = stack.pushgateway(tmp_path)

    with stack.Webhook() as webhook:
        alertmanager = stack.alertmanager(tmp_path, stack.loopback_alertmanager_config(webhook.url))
        prometheus_port = servers.free_port()
        targets = {
            "prometheus": [f"127.0.0.1:{prometheus_port}"],
            "snip-api": [f"127.0.0.1:{snip.port}"],
            "postgres-exporter": [pg_exporter.address],
            "redis-exporter": [redis_exporter.address],
            "pushgateway": [pushgateway.address],
            "alertmanager": [alertmanager.address],
        }
        rules = stack.shortened_rules(tmp_path / "rules", for_override="1s")
        prometheus = stack.prometheus(
            tmp_path,
            stack.loopback_prometheus_config(targets, rules, alertmanager=alertmanager.address),
            port=prometheus_port,
        )

        snip.start()
        try:
            with stack.running(pg_exporter, redis_exporter, pushgateway, alertmanager, prometheus):
                _every_target_is_up(prometheus)
                _counters_add_up_across_workers(prometheus, snip)
                _exporter_dashboards_find_data(prometheus, database_url)
                _pushed_backup_keeps_its_job(prometheus, pushgateway)
                _redis_down_alert_fires_and_resolves(webhook, throwaway_redis)
        finally:
            snip.stop()


def _every_target_is_up(prometheus: stack.Daemon) -> None:
    def all_up():
        answer = stack.query(prometheus, "up")
        states = {r["metric"]["job"]: r["value"][1] for r in answer["data"]["result"]}
        return states if states == {job: "1" for job in LOCAL_JOBS} else None

    stack.wait_for("every target scraped and up", all_up, timeout=20)


def _counters_add_up_across_workers(prometheus: stack.Daemon, snip: servers.SnipServer) -> None:
    created = requests.post(
        f"{snip.url}/api/v1/links", json={"url": "https://example.com/e2e"}, timeout=5
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    for _ in range(N_REDIRECTS):
        # A new connection per request: gunicorn's workers share the listening
        # socket, so the requests spread over them.
        response = requests.get(
            f"{snip.url}/{slug}", allow_redirects=False, timeout=5, headers={"Connection": "close"}
        )
        assert response.status_code == 302

    redirects = 'sum(snip_http_requests_total{job="snip-api", route="/<slug>"})'
    seen = stack.wait_for(
        f"Prometheus to count {N_REDIRECTS} redirects",
        lambda: (v := stack.scalar(prometheus, redirects)) is not None and v >= N_REDIRECTS and v,
    )
    assert seen == N_REDIRECTS, f"sent {N_REDIRECTS} redirects, Prometheus counted {seen}"
    assert (
        stack.scalar(prometheus, 'sum(snip_redirects_total{job="snip-api", code="302"})')
        == N_REDIRECTS
    )
    # The histogram counts every request too.
    count = 'sum(snip_http_request_duration_seconds_count{job="snip-api", route="/<slug>"})'
    assert stack.scalar(prometheus, count) == N_REDIRECTS


def _exporter_dashboards_find_data(prometheus: stack.Daemon, database_url: str) -> None:
    """Every PostgreSQL and Redis panel that reads exporter metrics finds some:
    the metric names exist in the exporters' real output."""
    database = database_url.rsplit("/", 1)[1]
    for name in ("postgresql.json", "redis.json"):
        dashboard = json.loads((stack.MONITORING / "grafana" / "dashboards" / name).read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                if "kubelet_" in expr or "snip_" in expr:
                    # kubelets exist only in a cluster; snip's own metrics are tested above
                    continue
                expr = expr.replace("$__rate_interval", "1m").replace(
                    'datname="snip"', f'datname="{database}"'
                )
                stack.wait_for(
                    f"data for {name}: {panel['title']}",
                    lambda e=expr: stack.query(prometheus, e)["data"]["result"],
                    timeout=10,
                )


def _pushed_backup_keeps_its_job(prometheus: stack.Daemon, pushgateway: stack.Daemon) -> None:
    pushed_at = int(time.time())
    body = f"snip_backup_last_success_timestamp_seconds {pushed_at}\n"
    response = requests.post(f"{pushgateway.url}/metrics/job/snip-backup", data=body, timeout=5)
    assert response.status_code == 200, response.text
    expr = 'snip_backup_last_success_timestamp_seconds{job="snip-backup"}'
    seen: list = []

    def scraped() -> bool:
        seen[:] = stack.query(prometheus, expr)["data"]["result"]
        return [float(series["value"][1]) for series in seen] == [pushed_at]

    try:
        stack.wait_for(
            f"Prometheus to scrape the pushed backup time {pushed_at}", scraped, timeout=10
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Prometheus has: {seen}") from None


def _redis_down_alert_fires_and_resolves(
    webhook: stack.Webhook, redis_server: servers.RedisServer
) -> None:
    assert not webhook.notifications("RedisDown", "firing"), "RedisDown fired while Redis was up"

    redis_server.stop()
    firing = stack.wait_for(
        "RedisDown to reach the webhook",
        lambda: webhook.notifications("RedisDown", "firing"),
        timeout=30,
    )
    # The committed routing tree: RedisDown goes to the operator's receiver, the
    # Watchdog heartbeat to its own.
    assert firing[0]["receiver"] == "operator"
    watchdog = stack.wait_for(
        "the Watchdog heartbeat", lambda: webhook.notifications("Watchdog", "firing")
    )
    assert {n["receiver"] for n in watchdog} == {"watchdog"}
    alert = firing[0]["alerts"][0]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "redis-exporter"
    assert re.fullmatch(stack.RUNBOOK_URL_PREFIX + "redisdown", alert["annotations"]["runbook_url"])

    redis_server.start()  # same port, so the exporter finds it again
    stack.wait_for(
        "RedisDown to resolve at the webhook",
        lambda: webhook.notifications("RedisDown", "resolved"),
        timeout=30,
    )
