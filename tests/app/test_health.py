"""Health endpoints.

Liveness never asks a dependency. Readiness is 503 until the schema is at the revision
the code expects, answers within about a second whatever the database does, says
"degraded" (not down) during a database outage once the schema was seen, and never
shows internal error text (addresses, driver messages) to the public.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests

from snip.health import CHECK_DEADLINE_SECONDS, code_revisions
from tests.support import servers

HEAD = ",".join(sorted(code_revisions()[0]))


def test_healthz_answers_without_any_dependency(make_app, sqlite_env):
    app = make_app({**sqlite_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ok_with_postgres_and_redis(make_app, pg_env):
    body = make_app(pg_env).test_client().get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}, "schema": HEAD}


def test_readyz_ok_in_embedded_mode_says_redis_is_disabled(make_app, sqlite_env):
    body = make_app(sqlite_env).test_client().get("/readyz").get_json()
    assert body["checks"]["redis"] == "disabled"
    assert body["status"] == "ok"


@pytest.fixture
def empty_database(postgres_admin_url):
    url = servers.create_database(postgres_admin_url, prefix="snip_unmigrated")
    yield url
    servers.drop_database(postgres_admin_url, url)


def test_an_unmigrated_database_is_not_ready(make_app, empty_database):
    """The first-install defect: pods went Ready on an empty schema (SELECT 1 passed)."""
    client = make_app({"DATABASE_URL": empty_database}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == f"schema not migrated (expects {HEAD})"
    # Once the migration has run, the same process becomes Ready without a restart.
    servers.run_snip_cli("db", "upgrade", env=servers.snip_env(DATABASE_URL=empty_database))
    assert client.get("/readyz").status_code == 200


def test_a_schema_behind_the_code_is_not_ready_and_a_newer_one_is(make_app, empty_database):
    servers.run_snip_cli("db", "upgrade", env=servers.snip_env(DATABASE_URL=empty_database))
    client = make_app({"DATABASE_URL": empty_database}).test_client()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        # Behind: a revision this code knows, but not its head. Alembic's base is the
        # only older state there is with one migration, so fake it with the table empty.
        conn.execute("DELETE FROM alembic_version")
        assert client.get("/readyz").status_code == 503
        # Ahead: a revision this code does not know, i.e. a newer release migrated
        # (expand/contract) and this pod is the rolled-back one: it must serve.
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_a_newer_release')")
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"]["database"] == "ok (newer schema)"


def test_database_down_is_503_before_the_schema_was_ever_seen(make_app):
    closed_port = servers.free_port()
    app = make_app({"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{closed_port}/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "down"
    assert response.get_json()["checks"]["database"] == "unavailable"


def test_readyz_never_shows_internal_error_text(make_app, migrated_postgres_url, throwaway_redis):
    """Issue 13: /readyz said 'Error 111 connecting to 127.0.0.1:16379' to anyone."""
    app = make_app({"DATABASE_URL": migrated_postgres_url, "REDIS_URL": throwaway_redis.url})
    throwaway_redis.stop()
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "unavailable"
    body = response.get_data(as_text=True)
    for leak in ("127.0.0.1", str(throwaway_redis.port), "Error", "connecting"):
        assert leak not in body


def test_redis_down_is_degraded_but_still_serving(make_app, migrated_postgres_url, throwaway_redis):
    from tests.app.conftest import _truncate, create_key, shorten

    _truncate(migrated_postgres_url)
    app = make_app({"DATABASE_URL": migrated_postgres_url, "REDIS_URL": throwaway_redis.url})
    client = app.test_client()
    shorten(client, {"Authorization": f"Bearer {create_key(app)}"}, slug="still-up")
    throwaway_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert client.get("/still-up").status_code == 302


@pytest.fixture
def silent_database():
    """A port that accepts TCP connections and never says a word (a hung server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"postgresql://snip:x@127.0.0.1:{listener.getsockname()[1]}/snip"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_hung_database_answers_readyz_within_the_deadline(make_app, silent_database):
    client = make_app({"DATABASE_URL": silent_database}).test_client()
    for _ in range(3):  # also while the previous attempt still hangs in the background
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert elapsed < CHECK_DEADLINE_SECONDS + 0.5, f"/readyz took {elapsed:.2f} s"


def test_the_health_check_statement_timeout_is_one_second(make_app, pg_env):
    """The check's own connection runs with statement_timeout = 1 s (not the app's)."""
    from snip.health import database_check

    app = make_app(pg_env)
    check = database_check(app)
    with check.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1s"


@pytest.mark.slow
def test_database_outage_under_load_keeps_cached_redirects(tmp_path, redis_url):
    """Stop a throwaway PostgreSQL under load: cached links keep redirecting, liveness
    stays 200, readiness says degraded (so no pod leaves the Service), writes get a
    clear 503; when PostgreSQL returns, everything recovers by itself."""
    cluster = servers.PostgresCluster(tmp_path / "pg").init().start()
    with servers.running(cluster):
        url = servers.create_database(cluster.admin_url)
        env = servers.snip_env(
            DATABASE_URL=url, REDIS_URL=redis_url, SNIP_RATE_LIMIT_WRITES="100000 per minute"
        )
        servers.run_snip_cli("db", "upgrade", env=env)
        key = servers.create_key(env, "t")
        token = next(w for w in key.split() if w.startswith("snip_"))
        auth = {"Authorization": f"Bearer {token}"}
        server = servers.SnipServer(env=env, workers=2).start()
        with servers.running(server):
            base = server.url
            slugs = [f"warm{i}" for i in range(5)]
            for slug in slugs:
                r = requests.post(
                    f"{base}/api/v1/links",
                    json={"url": f"https://example.com/{slug}", "slug": slug},
                    headers=auth,
                    timeout=5,
                )
                assert r.status_code == 201, r.text
                assert (
                    requests.get(f"{base}/{slug}", allow_redirects=False, timeout=5).status_code
                    == 302
                )
            assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

            seen: Counter[int] = Counter()
            stop = threading.Event()

            def load() -> None:
                with requests.Session() as s:
                    i = 0
                    while not stop.is_set():
                        r = s.get(
                            f"{base}/{slugs[i % len(slugs)]}", allow_redirects=False, timeout=5
                        )
                        seen[r.status_code] += 1
                        i += 1

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                cluster.stop()
                outage_end = time.monotonic() + 5
                while time.monotonic() < outage_end:
                    assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
                    ready = requests.get(f"{base}/readyz", timeout=3)
                    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
                    assert ready.json()["checks"]["database"] == "unavailable"
                    write = requests.post(
                        f"{base}/api/v1/links",
                        json={"url": "https://example.com/x"},
                        headers=auth,
                        timeout=5,
                    )
                    assert write.status_code == 503, write.text
                    assert write.headers["Content-Type"].startswith("application/problem+json")
                    time.sleep(0.2)
                during = sum(seen.values())
                cluster.start()
                deadline = time.monotonic() + 20
                while True:  # recovery without any restart: poll until a write works
                    write = requests.post(
                        f"{base}/api/v1/links",
                        json={"url": "https://example.com/back"},
                        headers=auth,
                        timeout=5,
                    )
                    if write.status_code == 201 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert write.status_code == 201, write.text
                assert requests.get(f"{base}/readyz", timeout=5).json()["status"] == "ok"
            finally:
                stop.set()
                for t in threads:
                    t.join()
            assert during > 50, f"too little load to prove anything: {seen}"
            assert set(seen) == {302}, f"cached redirects failed during the outage: {seen}"
