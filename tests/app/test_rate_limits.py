"""Rate limits on writes: per API key and per client address, 429 with Retry-After."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests

from tests.app.conftest import create_key, shorten
from tests.support import servers


def test_writes_beyond_the_limit_get_429_with_retry_after(make_app, backend_env):
    app = make_app({**backend_env, "SNIP_RATE_LIMIT_WRITES": "3 per minute"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    codes = [shorten(client, auth, f"https://example.com/{i}").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    refused = shorten(client, auth, "https://example.com/again")
    assert refused.content_type == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_the_limit_is_per_client_address_too(make_app, backend_env):
    app = make_app({**backend_env, "SNIP_RATE_LIMIT_WRITES": "2 per minute"})
    client = app.test_client()
    first, second = create_key(app), create_key(app)
    assert shorten(client, {"Authorization": f"Bearer {first}"}).status_code == 201
    assert shorten(client, {"Authorization": f"Bearer {second}"}).status_code == 201
    # a third key from the same address does not get around the address limit
    third = create_key(app)
    assert shorten(client, {"Authorization": f"Bearer {third}"}).status_code == 429
    other_address = client.post(
        "/api/v1/links",
        json={"url": "https://example.com/x"},
        headers={"Authorization": f"Bearer {third}"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other_address.status_code == 201


def test_reads_and_redirects_are_not_limited(make_app, backend_env):
    app = make_app({**backend_env, "SNIP_RATE_LIMIT_WRITES": "1 per minute"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    shorten(client, auth, slug="popular")
    assert {client.get("/popular").status_code for _ in range(20)} == {302}
    assert {client.get("/api/v1/links", headers=auth).status_code for _ in range(5)} == {200}


def test_one_budget_is_shared_by_create_change_and_delete(make_app, backend_env):
    """issue 13: each write endpoint used to get the whole limit for itself."""
    app = make_app({**backend_env, "SNIP_RATE_LIMIT_WRITES": "3 per minute"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    assert shorten(client, auth, slug="one").status_code == 201
    assert shorten(client, auth, slug="two").status_code == 201
    change = {"url": "https://example.com/changed"}
    assert client.patch("/api/v1/links/one", json=change, headers=auth).status_code == 200
    # the budget is spent, whichever endpoint asks next
    assert client.delete("/api/v1/links/two", headers=auth).status_code == 429
    assert client.patch("/api/v1/links/two", json=change, headers=auth).status_code == 429
    assert shorten(client, auth, slug="three").status_code == 429


def test_several_limits_apply_together(make_app, sqlite_env):
    """issue 12: SNIP_RATE_LIMIT_WRITES takes the documented 'a;b' form."""
    app = make_app({**sqlite_env, "SNIP_RATE_LIMIT_WRITES": "2/minute;100/day"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    codes = [shorten(client, auth, f"https://example.com/{i}").status_code for i in range(3)]
    assert codes == [201, 201, 429]


@pytest.mark.slow
def test_embedded_mode_workers_share_one_budget(sqlite_env):
    """issue 13: without Redis each gunicorn worker counted apart (88 of 130 let through
    under "60 per minute" with two workers)."""
    env = servers.snip_env(**{**sqlite_env, "SNIP_RATE_LIMIT_WRITES": "10 per minute"})
    servers.run_snip_cli("db", "upgrade", env=env)
    key = servers.create_key(env, "t")
    server = servers.SnipServer(env=env, workers=3).start()
    with servers.running(server):

        def write(i: int) -> int:
            return requests.post(
                f"{server.url}/api/v1/links",
                json={"url": f"https://example.com/{i}"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(write, range(60)))
    assert codes.count(201) == 10
    assert codes.count(429) == 50


def test_with_redis_down_each_worker_still_limits_writes(make_app, pg_env, tmp_path):
    """The decision (docs/security.md): when Redis is down writes go on, so a takedown
    never waits for Redis, but each worker counts in its own memory instead of
    letting every write through."""
    cache = servers.RedisServer(tmp_path / "redis").start()
    with servers.running(cache):
        app = make_app({**pg_env, "REDIS_URL": cache.url, "SNIP_RATE_LIMIT_WRITES": "3 per minute"})
        client = app.test_client()
        auth = {"Authorization": f"Bearer {create_key(app)}"}
        cache.stop()
        codes = [shorten(client, auth, f"https://example.com/{i}").status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]


def test_the_dashboard_spends_the_same_write_budget(make_app, sqlite_env):
    """One budget per address whichever door a write comes through: API or dashboard."""
    from tests.app.conftest import create_user
    from tests.app.webclient import PASSWORD, post_form, sign_in

    app = make_app({**sqlite_env, "SNIP_RATE_LIMIT_WRITES": "2 per minute"})
    create_user(app, "member@example.com", "member", PASSWORD)
    browser = app.test_client()
    assert sign_in(browser, "member@example.com").status_code == 302
    created = post_form(browser, "/links/new", {"url": "https://example.com/a", "slug": "dash"})
    assert created.status_code == 302
    changed = post_form(
        browser,
        "/links/dash/edit",
        {"url": "https://example.com/b", "redirect_status": "302"},
    )
    assert changed.status_code == 302
    refused = post_form(browser, "/links/dash/delete", {})
    assert refused.status_code == 429
    # the same address through the API, with a key of another user: the budget is spent
    api = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    assert shorten(api, auth, slug="viaapi").status_code == 429
