"""The parts of the manifests that run code, run against real servers.

Offline validation proves a manifest is well-formed; these tests prove two
settings do what their comments claim: Redis started with k8s/cache's redis.conf
keeps click data while evicting cache entries, and the flusher's probe command
tells a fresh flush from a stale or missing one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from snip import legacy_clicks as clicks
from tests.k8s.conftest import Rendering
from tests.support.servers import find_binary, free_port, wait_for_port

PASSWORD = "k8s-test-password"


@pytest.fixture
def redis_with_our_conf(root: Rendering, tmp_path: Path) -> Iterator[redis.Redis]:
    """redis-server with k8s/cache's redis.conf (only dir and port changed), as the pod runs it."""
    conf = root.find("ConfigMap", "snip-redis-config")["data"]["redis.conf"]
    conf = conf.replace("dir /data", f"dir {tmp_path}").replace("port 6379", f"port {free_port()}")
    conf = conf.replace("bind 0.0.0.0", "bind 127.0.0.1")
    (tmp_path / "redis.conf").write_text(conf)
    port = int(next(line.split()[1] for line in conf.splitlines() if line.startswith("port ")))
    proc = subprocess.Popen(
        [find_binary("redis-server"), str(tmp_path / "redis.conf"), "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for_port(port, timeout=10)
        except TimeoutError:
            proc.kill()
            pytest.fail(
                f"redis-server refused k8s/cache's redis.conf:\n{proc.stderr.read().decode()}"
            )
        yield redis.Redis(port=port, password=PASSWORD)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_redis_conf_loads_and_keeps_click_data_under_memory_pressure(
    redis_with_our_conf: redis.Redis,
) -> None:
    r = redis_with_our_conf
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"
    assert r.config_get("appendonly")["appendonly"] == "yes"
    # Shrink the memory so pressure comes fast; the policy is the file's.
    r.config_set("maxmemory", 2 * 1024 * 1024)
    r.hset(clicks.PENDING, mapping={clicks.TOTAL_FIELD: 42, "1|2026-11-28|0|": 42})
    for i in range(3000):  # ~3 MB of cache entries, all with a TTL
        try:
            r.set(f"snip:link:v1:slug{i}", "x" * 1000, ex=300)
        except redis.exceptions.OutOfMemoryError:
            break
    assert int(r.info("stats")["evicted_keys"]) > 0, "no cache entry was evicted"
    assert r.hget(clicks.PENDING, clicks.TOTAL_FIELD) == b"42", "click data was evicted"


def flusher_probe(root: Rendering) -> list[str]:
    flusher = root.find("Deployment", "snip-flusher")["spec"]["template"]["spec"]
    command = flusher["containers"][0]["livenessProbe"]["exec"]["command"]
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_flusher_probe_tells_fresh_from_stale(root: Rendering, redis_url: str) -> None:
    probe = flusher_probe(root)
    env = {"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    r = redis.Redis.from_url(redis_url)

    def healthy() -> bool:
        return subprocess.run(probe, env=env, capture_output=True).returncode == 0

    assert not healthy(), "no flush yet must not count as healthy"
    r.set(clicks.LAST_FLUSH, time.time())
    assert healthy(), "a flush just now must count as healthy"
    r.set(clicks.LAST_FLUSH, time.time() - 300)
    assert not healthy(), "a flush 5 minutes ago must not count as healthy"
