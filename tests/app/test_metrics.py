"""/metrics: Prometheus text, counters summed correctly over several gunicorn workers."""

from __future__ import annotations

import re
import time

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(server) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_counters_add_up_across_workers(pg_server):
    key = (
        "snip_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )
    buckets = (
        "snip_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/healthz")),
    )
    before = scrape(pg_server)  # the server's own start-up probes already count
    n = 90
    for _ in range(n):
        requests.get(f"{pg_server.url}/healthz", timeout=5)
    after = scrape(pg_server)
    assert after[key] - before[key] == n
    assert after[buckets] - before[buckets] == n


def test_redirect_cache_and_click_metrics(pg_server):
    from tests.app.test_redirect import api_key

    requests.post(
        f"{pg_server.url}/api/v1/links",
        json={"url": "https://example.com/", "slug": "metered"},
        headers=api_key(pg_server),
        timeout=5,
    )
    for _ in range(5):
        requests.get(f"{pg_server.url}/metered", allow_redirects=False, timeout=5)
    requests.get(f"{pg_server.url}/unknown-slug", timeout=5)
    values = scrape(pg_server)
    assert values[("snip_redirects_total", (("code", "302"),))] == 5
    assert values[("snip_redirects_total", (("code", "404"),))] == 1
    assert values[("snip_clicks_recorded_total", (("path", "log"),))] == 5
    # The shippers move them to the database within about a second; then none waits.
    deadline = time.monotonic() + 10
    while values.get(("snip_clicks_pending", ())) != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        values = scrape(pg_server)
    assert values[("snip_clicks_pending", ())] == 0
    assert values[("snip_click_flush_lag_seconds", ())] == 0
    assert values[("snip_click_flush_last_success_timestamp_seconds", ())] > time.time() - 60
    assert values[("snip_dependency_up", (("dependency", "database"),))] == 1
    assert values[("snip_dependency_up", (("dependency", "redis"),))] == 1
    hits = values.get(("snip_cache_requests_total", (("result", "hit"),)), 0)
    misses = values[("snip_cache_requests_total", (("result", "miss"),))]
    assert hits + misses == 6
    # Both doors to the redirect (the fast path and Flask) report the same HTTP series.
    redirects = (("method", "GET"), ("route", "/<slug>"), ("status", "302"))
    assert values[("snip_http_requests_total", redirects)] == 5


def test_route_label_is_the_rule_not_the_path(pg_server):
    for slug in ("aaa1", "bbb2", "ccc3"):
        requests.get(f"{pg_server.url}/{slug}", timeout=5)
    text = requests.get(f"{pg_server.url}/metrics", timeout=5).text
    assert 'route="/<slug>"' in text
    assert not re.search(r'route="/(aaa1|bbb2|ccc3)"', text)
