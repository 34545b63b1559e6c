"""`snip migrate`, the init step of every snip pod (k8s): waits for the database, lets
one pod migrate at a time (PostgreSQL advisory lock), accepts a newer release's schema.

Each test uses a PostgreSQL of its own: one that is not running yet, or a fresh database.
"""

from __future__ import annotations

import subprocess
import time

import psycopg

from snip.health import code_revisions
from tests.support import servers

HEAD = ",".join(sorted(code_revisions()[0]))


def revision(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


def start_migrate(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(servers.VENV_BIN / "snip"), "migrate", *args],
        env=servers.snip_env(DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_install_waits_for_the_database_then_migrates(tmp_path):
    """The first-install defect: migrations ran before PostgreSQL existed and failed."""
    cluster = servers.PostgresCluster(tmp_path / "pg").init()  # created, not started
    with servers.running(cluster):
        url = cluster.admin_url.rsplit("/", 1)[0] + "/snip_first"
        proc = start_migrate(url, "--wait", "120")
        # The init container starts before the database is up: it says it waits
        # (once every 2 s) and keeps waiting. Poll for that, never a fixed sleep.
        # Other lines (a library's warning, a log line) may come first: read until
        # the waiting line, or until the process ends without ever saying it.
        assert proc.stderr is not None
        seen = []
        while not any("waiting for the database" in line for line in seen):
            line = proc.stderr.readline()
            assert line, "".join(seen) + proc.communicate()[1]
            seen.append(line)
        assert proc.poll() is None
        cluster.start()
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE snip_first")  # the image's POSTGRES_DB step
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert revision(url) == [HEAD]


def test_a_database_that_never_comes_fails_with_a_clear_message(tmp_path):
    url = f"postgresql://snip:x@127.0.0.1:{servers.free_port()}/snip"
    started = time.monotonic()
    proc = start_migrate(url, "--wait", "3")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "the database did not answer in 3 s" in err
    assert time.monotonic() - started < 30


def test_pods_starting_together_migrate_once(postgres_admin_url):
    """Scale-out or a rollout starts several pods at once: one migrates, the rest wait
    for the lock and find nothing to do. Without the lock, two `CREATE TABLE`s race."""
    url = servers.create_database(postgres_admin_url, prefix="snip_race")
    try:
        procs = [start_migrate(url, "--wait", "60") for _ in range(4)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], results
        outs = [out for out, _ in results]
        assert sum("migrated to" in o for o in outs) == 1, outs
        assert sum("already at" in o for o in outs) == 3, outs
        assert revision(url) == [HEAD]
    finally:
        servers.drop_database(postgres_admin_url, url)


def test_a_newer_releases_schema_is_accepted_after_a_rollback(postgres_admin_url):
    """Rolled back one release: the old pods' init step must not fail on the new schema
    (Alembic alone stops with "Can't locate revision")."""
    url = servers.create_database(postgres_admin_url, prefix="snip_newer")
    try:
        env = servers.snip_env(DATABASE_URL=url)
        servers.run_snip_cli("db", "upgrade", env=env)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '9999_next_release'")
        result = servers.run_snip_cli("migrate", "--wait", "5", env=env, check=False)
        assert result.returncode == 0, result.stderr
        assert "newer than this release" in result.stdout
        assert revision(url) == ["9999_next_release"]
    finally:
        servers.drop_database(postgres_admin_url, url)
