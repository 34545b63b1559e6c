"""The redirect hot path: right status, right answers for dead links, cheap on a cache hit."""

from __future__ import annotations

import concurrent.futures
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import event, update

from snip.extensions import db
from snip.models import Link
from tests.app.conftest import shorten
from tests.support import servers


@contextmanager
def count_queries(app):
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_redirects_with_the_links_status(client, auth):
    shorten(client, auth, "https://example.com/default", slug="plain")
    shorten(client, auth, "https://example.com/moved", slug="moved", redirect_status=308)
    response = client.get("/plain")
    assert (response.status_code, response.headers["Location"]) == (
        302,
        "https://example.com/default",
    )
    assert client.get("/moved").status_code == 308


def test_default_status_is_configurable(make_app, backend_env):
    from tests.app.conftest import create_key

    app = make_app({**backend_env, "SNIP_DEFAULT_REDIRECT_STATUS": "301"})
    client = app.test_client()
    shorten(client, {"Authorization": f"Bearer {create_key(app)}"}, slug="perm")
    assert client.get("/perm").status_code == 301


def test_unknown_slug_is_404_and_is_remembered(app, client):
    assert client.get("/nope-nope").status_code == 404
    with count_queries(app) as queries:
        for _ in range(5):
            assert client.get("/nope-nope").status_code == 404
        assert client.get("/no.dots!").status_code == 404  # impossible slug: never looked up
    assert queries == []


def test_a_cache_hit_makes_no_database_query(app, client, auth):
    shorten(client, auth, slug="hot")
    client.get("/hot")  # fills the cache
    with count_queries(app) as queries:
        for _ in range(10):
            assert client.get("/hot").status_code == 302
    # Clicks go to the local click log in both modes: the database is not asked.
    assert queries == []


def test_expired_link_is_410(app, client, auth):
    shorten(
        client, auth, slug="soon", expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    assert client.get("/soon").status_code == 302
    with app.app_context():
        db.session.execute(update(Link).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    app.extensions["snip"].cache.invalidate("soon")
    response = client.get("/soon")
    assert response.status_code == 410
    assert "expired" in response.get_json()["detail"]


def test_max_clicks_then_410_and_head_does_not_use_one(client, auth):
    shorten(client, auth, slug="twice", max_clicks=2)
    assert client.head("/twice").status_code == 302
    assert [client.get("/twice").status_code for _ in range(4)] == [302, 302, 410, 410]


def test_head_on_a_used_up_one_time_link_is_410_and_hides_the_target(client, auth):
    """Issue 13: after a max_clicks: 1 link is used, HEAD kept answering 302 with the
    Location, revealing a one-time link's (often secret) target for ever."""
    shorten(client, auth, "https://secret.example/reset?token=abc", slug="onetime", max_clicks=1)
    assert client.get("/onetime").status_code == 302
    head = client.head("/onetime")
    assert head.status_code == 410
    assert "Location" not in head.headers
    assert "secret.example" not in head.get_data(as_text=True)


def test_deleted_link_is_410(client, auth):
    shorten(client, auth, slug="bye")
    client.get("/bye")
    client.delete("/api/v1/links/bye", headers=auth)
    assert client.get("/bye").status_code == 410


def api_key(server: servers.SnipServer) -> dict[str, str]:
    key = servers.create_key(server.env, "t")
    return {"Authorization": f"Bearer {key}"}


def test_max_clicks_is_exact_under_concurrency(pg_server):
    auth = api_key(pg_server)
    requests.post(
        f"{pg_server.url}/api/v1/links",
        json={"url": "https://example.com/", "slug": "rare", "max_clicks": 7},
        headers=auth,
        timeout=5,
    ).raise_for_status()

    def follow(_):
        return requests.get(f"{pg_server.url}/rare", allow_redirects=False, timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(follow, range(60)))
    assert codes.count(302) == 7
    assert codes.count(410) == 53


def test_updates_and_deletes_reach_every_worker_within_the_local_cache_ttl(pg_server):
    auth = api_key(pg_server)
    base = pg_server.url
    requests.post(
        f"{base}/api/v1/links",
        json={"url": "https://old.example/", "slug": "moving"},
        headers=auth,
        timeout=5,
    ).raise_for_status()
    for _ in range(30):  # warm every worker's in-process cache
        requests.get(f"{base}/moving", allow_redirects=False, timeout=5)

    bound = 2.0  # SNIP_LOCAL_CACHE_TTL_SECONDS default: the documented bound
    slack = 1.0  # two busy cores: scheduling, not the cache, may add this much

    def locations() -> set:
        return {
            requests.get(f"{base}/moving", allow_redirects=False, timeout=5).headers.get("Location")
            for _ in range(30)
        }

    def statuses() -> set:
        return {
            requests.get(f"{base}/moving", allow_redirects=False, timeout=5).status_code
            for _ in range(30)
        }

    def settles(answers, expected) -> float:
        """Seconds until every worker gives the expected answer; fails past the bound."""
        start = time.monotonic()
        while (seen := answers()) != expected:
            assert time.monotonic() - start <= bound + slack, f"still {seen} after the bound"
            time.sleep(0.05)
        return time.monotonic() - start

    requests.patch(
        f"{base}/api/v1/links/moving", json={"url": "https://new.example/"}, headers=auth, timeout=5
    )
    settles(locations, {"https://new.example/"})

    requests.delete(f"{base}/api/v1/links/moving", headers=auth, timeout=5)
    settles(statuses, {410})
    # settled means settled: no worker falls back to an older answer afterwards
    assert statuses() == {410}


def test_a_slow_reader_cannot_put_an_old_link_back_over_a_change(redis_url):
    """Reader loads the old row, a writer commits and caches the new one, then the
    reader's fill arrives: the new value must win in Redis."""
    from snip.cache import CachedLink, LinkCache
    from snip.redis_client import RedisGuard

    def cache() -> LinkCache:  # one per worker; local TTL 0 so only Redis answers
        return LinkCache(
            RedisGuard(redis_url), ttl=300, local_ttl=0, negative_ttl=30, epoch_reader=lambda: 0
        )

    old = CachedLink(id=1, url="https://old.example/", status=302, expires_at=None,
                     max_clicks=None, deleted=False)  # fmt: skip
    new = CachedLink(id=1, url="https://new.example/", status=302, expires_at=None,
                     max_clicks=None, deleted=False)  # fmt: skip
    reader, writer = cache(), cache()
    writer.put("raced", new)
    reader.fill("raced", old)  # too late: must not overwrite
    assert cache().get("raced") == new
    writer.put("raced", None)  # a writer's value always replaces what is there
    assert cache().get("raced") is None


def test_a_database_outage_on_a_cache_miss_is_503_not_500(make_app, tmp_path):
    app = make_app({"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{servers.free_port()}/none"})
    response = app.test_client().get("/never-cached")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["type"].endswith("#database-unavailable")
