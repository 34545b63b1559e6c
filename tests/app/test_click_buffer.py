"""The optional click buffer (SNIP_CLICK_BUFFER_SECONDS): clicks arrive within the
interval, and a graceful stop pushes what is still buffered."""

from __future__ import annotations

import time

import pytest
import redis
import requests

from snip import clicks
from snip.click_buffer import ClickBuffer
from snip.config import ConfigError, load_settings
from tests.app.test_redirect import api_key
from tests.support import servers


def pending_total(redis_url: str) -> int:
    return int(redis.Redis.from_url(redis_url).hget(clicks.PENDING, clicks.TOTAL_FIELD) or 0)


def start(pg_env: dict[str, str], seconds: str) -> servers.SnipServer:
    env = servers.snip_env(**pg_env, SNIP_CLICK_BUFFER_SECONDS=seconds)
    server = servers.SnipServer(env=env, workers=2).start()
    requests.post(
        f"{server.url}/api/v1/links",
        json={"url": "https://example.com/", "slug": "buffered"},
        headers=api_key(server),
        timeout=5,
    ).raise_for_status()
    return server


def follow(server: servers.SnipServer, times: int) -> None:
    for _ in range(times):
        assert (
            requests.get(f"{server.url}/buffered", allow_redirects=False, timeout=5).status_code
            == 302
        )


def test_buffered_clicks_reach_redis_within_the_interval(pg_env):
    server = start(pg_env, "0.2")
    with servers.running(server):
        follow(server, 40)
        sent_at = time.monotonic()
        while pending_total(pg_env["REDIS_URL"]) < 40:
            assert time.monotonic() - sent_at < 0.2 + 2.0, "buffered clicks did not arrive"
            time.sleep(0.05)
        assert pending_total(pg_env["REDIS_URL"]) == 40


def test_a_graceful_stop_pushes_the_buffer(pg_env):
    server = start(pg_env, "10")  # the timer will not fire during this test
    follow(server, 25)
    assert pending_total(pg_env["REDIS_URL"]) < 25  # still held by the workers
    server.stop()  # SIGTERM: gunicorn stops its workers gracefully
    assert pending_total(pg_env["REDIS_URL"]) == 25


def test_a_failed_push_keeps_the_clicks_for_the_next_attempt():
    pushed: list[dict[str, int]] = []
    failing = True

    def push(counts: dict[str, int]) -> None:
        if failing:
            raise ConnectionError("redis and database both unreachable")
        pushed.append(counts)

    buffer = ClickBuffer(60, push)
    buffer._counts.update({"1|2026-01-01|0|": 3})
    buffer.flush()
    failing = False
    buffer.flush()
    assert pushed == [{"1|2026-01-01|0|": 3}]


def test_the_buffer_is_bounded():
    with pytest.raises(ConfigError, match="SNIP_CLICK_BUFFER_SECONDS"):
        load_settings({"SNIP_CLICK_BUFFER_SECONDS": "60"})
