"""Disaster recovery end to end with the real application.

A snip under gunicorn, on a database migrated by `snip db upgrade`, is used the way
link owners use it: an API key, links with tags, redirects, clicks flushed into
PostgreSQL. Then: back up, restore into a new database, start a SECOND snip on the
restored database, and prove it serves the same links, the same statistics and still
accepts the old API key. This is the Runbook's DR procedure minus Kubernetes.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests

from tests.scripts.helpers import (
    drop_database_named,
    explain,
    run_script,
    table_fingerprints,
    url_for,
)
from tests.support import servers


def test_restored_database_serves_the_same_links_stats_and_keys(
    postgres_admin_url, throwaway_redis, tmp_path
):
    source = servers.create_database(postgres_admin_url, prefix="snip_dr")
    target = "snip_dr_restored_" + os.urandom(4).hex()
    running: list[servers.SnipServer] = []
    try:
        env = servers.snip_env(DATABASE_URL=source, REDIS_URL=throwaway_redis.url)
        servers.run_snip_cli("db", "upgrade", env=env)
        key = servers.create_key(env, "dr", "read", "write")
        auth = {"Authorization": f"Bearer {key}"}

        before = servers.SnipServer(env=env).start()
        running.append(before)
        for i in range(20):
            created = requests.post(
                f"{before.url}/api/v1/links",
                json={"url": f"https://example.org/page/{i}", "slug": f"dr-{i}", "tags": ["dr"]},
                headers=auth,
                timeout=5,
            )
            assert created.status_code == 201, created.text
        for _ in range(3):
            hit = requests.get(f"{before.url}/dr-7", allow_redirects=False, timeout=5)
            assert hit.status_code == 302
        servers.run_snip_cli("clicks", "flush", env=env)
        stats_before = requests.get(
            f"{before.url}/api/v1/links/dr-7/stats", headers=auth, timeout=5
        )
        assert stats_before.status_code == 200, stats_before.text
        assert stats_before.json()["total"] == 3, "the clicks reached PostgreSQL before the backup"

        backups = tmp_path / "backups"
        done = run_script("backup/db-backup.sh", "--dir", backups, env={"DATABASE_URL": source})
        assert done.returncode == 0, explain(done)
        done = run_script(
            "backup/dr-restore.sh",
            "--dir",
            backups,
            "--target-db",
            target,
            env={"DATABASE_URL": postgres_admin_url},
        )
        assert done.returncode == 0, explain(done)
        restored = url_for(postgres_admin_url, target)
        assert table_fingerprints(restored) == table_fingerprints(source)

        # The "switch": a second snip on the restored database (and a clean Redis, as after
        # losing everything).
        before.stop()
        throwaway_redis.stop()
        fresh_redis = servers.RedisServer(Path(tmp_path / "redis2")).start()
        try:
            after = servers.SnipServer(
                env=servers.snip_env(DATABASE_URL=restored, REDIS_URL=fresh_redis.url)
            ).start()
            running.append(after)
            hit = requests.get(f"{after.url}/dr-19", allow_redirects=False, timeout=5)
            assert hit.status_code == 302
            assert hit.headers["Location"] == "https://example.org/page/19"
            stats_after = requests.get(
                f"{after.url}/api/v1/links/dr-7/stats", headers=auth, timeout=5
            )
            assert stats_after.status_code == 200, "the old API key works on the restored data"
            assert stats_after.json() == stats_before.json()
            ready = requests.get(f"{after.url}/readyz", timeout=5).json()
            assert ready["status"] == "ok"
            health = run_script("health-check.sh", "--url", after.url, "--canary", "dr-3")
            assert health.returncode == 0, explain(health)
        finally:
            fresh_redis.stop()
    finally:
        for server in running:
            server.stop()
        drop_database_named(postgres_admin_url, target)
        servers.drop_database(postgres_admin_url, source)
