"""Health endpoints: liveness never asks dependencies; readiness tells ok, degraded, down."""

from __future__ import annotations

import requests

from tests.support import servers


def test_healthz_answers_without_any_dependency(make_app, sqlite_env):
    app = make_app({**sqlite_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ok_with_postgres_and_redis(make_app, pg_env):
    body = make_app(pg_env).test_client().get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_ok_in_embedded_mode_says_redis_is_disabled(make_app, sqlite_env):
    body = make_app(sqlite_env).test_client().get("/readyz").get_json()
    assert body["checks"]["redis"] == "disabled"
    assert body["status"] == "ok"


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
    assert response.get_json()["checks"]["redis"].startswith("error")
    assert client.get("/still-up").status_code == 302


def test_database_down_is_503(make_app, tmp_path):
    closed_port = servers.free_port()
    app = make_app({"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{closed_port}/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "down"
    assert response.get_json()["checks"]["database"].startswith("error")


def test_readyz_under_gunicorn_when_postgres_restarts(tmp_path, redis_url):
    """Break a throwaway PostgreSQL (never the shared one): 503 while down, ok again after."""
    cluster = servers.PostgresCluster(tmp_path / "pg").init().start()
    with servers.running(cluster):
        url = servers.create_database(cluster.admin_url)
        env = servers.snip_env(DATABASE_URL=url, REDIS_URL=redis_url)
        servers.run_snip_cli("db", "upgrade", env=env)
        server = servers.SnipServer(env=env, workers=2).start()
        with servers.running(server):
            assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
            cluster.stop()
            down = requests.get(f"{server.url}/readyz", timeout=10)
            assert (down.status_code, down.json()["status"]) == (503, "down")
            assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
            cluster.start()
            # pool_pre_ping replaces the dead connections: ready again without a restart
            assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
