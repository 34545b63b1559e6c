"""The links API: what a link owner can do, and the clear errors for what they cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.app.conftest import shorten

PROBLEM = "application/problem+json"


def test_create_returns_201_with_location_and_the_link(client, auth):
    response = shorten(client, auth, "https://example.com/a?b=c", tags=["news", "q4"])
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == body["short_url"]
    assert body["url"] == "https://example.com/a?b=c"
    assert body["redirect_status"] == 302
    assert body["tags"] == ["news", "q4"]
    assert len(body["slug"]) == 7


def test_custom_slug_and_status_are_kept(client, auth):
    body = shorten(client, auth, slug="spring-sale", redirect_status=301).get_json()
    assert body["slug"] == "spring-sale"
    assert body["redirect_status"] == 301


def test_taken_slug_is_a_conflict(client, auth):
    assert shorten(client, auth, slug="taken").status_code == 201
    response = shorten(client, auth, "https://example.org/", slug="taken")
    assert response.status_code == 409
    assert response.content_type == PROBLEM


def test_reuse_returns_the_existing_live_link(client, auth):
    first = shorten(client, auth, "https://example.com/same").get_json()
    again = shorten(client, auth, "https://example.com/same", reuse=True)
    assert again.status_code == 200
    assert again.get_json()["slug"] == first["slug"]
    fresh = shorten(client, auth, "https://example.com/same")
    assert fresh.get_json()["slug"] != first["slug"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("data:text/html,<script>alert(1)</script>", "scheme 'data'"),
        ("vbscript:msgbox(1)", "scheme 'vbscript'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("example.com/no-scheme", "scheme 'none'"),
        ("https://exa mple.com/", "control characters"),
        ("https://example.com/\x00", "control characters"),
        ("https://example.com/" + "a" * 2100, "limit is 2048"),
        ("http://127.0.0.1:8000/loop", "shortener itself"),
        ("https://bank.example@evil.example/", "user name or password"),
        ("https://evil.test/", "blocked"),
        ("https://sub.evil.test/", "blocked"),
        ("https://example.com:99999/", "cannot be parsed"),
        ("https:///path-only", "no host"),
        # look-alikes of a blocked host or of snip itself
        ("https://evil.test\\.good.example/", "backslash"),
        ("https://\uff45\uff56\uff49\uff4c.test/", "blocked"),  # fullwidth letters
        ("https://evil\u3002test/", "blocked"),  # ideographic full stop
        ("https://ev\u00adil.test/", "invisible"),  # soft hyphen
        ("https://ev\u200bil.test/", "invisible"),  # zero-width space
        ("https://evil\u00a0.test/", "invisible"),  # no-break space
        ("https://evil.test%2e/", "percent-encoded"),
        ("https://EVIL.test./", "blocked"),
        ("http://127.1:8000/", "shortener itself"),
        ("http://2130706433/", "shortener itself"),
        ("http://[::ffff:127.0.0.1]/", "shortener itself"),
        ("https://example.com/\ud800", "invisible"),  # a lone surrogate
    ],
)
def test_bad_urls_are_refused_with_the_reason(make_app, backend_env, url, reason):
    from tests.app.conftest import create_key

    app = make_app({**backend_env, "SNIP_BLOCKED_HOSTS": "evil.test"})
    client = app.test_client()
    response = shorten(client, {"Authorization": f"Bearer {create_key(app)}"}, url)
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    errors = response.get_json()["errors"]
    assert errors[0]["field"] == "url"
    assert reason in errors[0]["message"]


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("ab", "3-64"),
        ("api", "reserved"),
        ("Docs", "reserved"),
        ("metrics", "reserved"),
        ("has space", "3-64"),
        ("-leading", "3-64"),
        ("x" * 65, "3-64"),
        ("emoji😀", "3-64"),
    ],
)
def test_bad_slugs_are_refused(client, auth, slug, reason):
    response = shorten(client, auth, slug=slug)
    assert response.status_code == 422
    assert reason in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no time zone
        ({"max_clicks": 0}, "max_clicks"),
        ({"redirect_status": 303}, "redirect_status"),
        ({"tags": ["Not Valid"]}, "tags.0"),
        ({"colour": "red"}, "colour"),
        ({"reuse": True, "slug": "mine"}, "reuse"),
        ({"reuse": True, "max_clicks": 1}, "reuse"),
        ({"reuse": True, "redirect_status": 301}, "reuse"),
    ],
)
def test_bad_fields_are_named(client, auth, fields, field):
    response = shorten(client, auth, **fields)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]


def test_missing_url_and_non_json_body(client, auth):
    assert shorten_raw(client, auth, {}).get_json()["errors"][0]["field"] == "url"
    response = client.post("/api/v1/links", data="url=x", headers=auth)
    assert response.status_code == 422


def shorten_raw(client, auth, body):
    return client.post("/api/v1/links", json=body, headers=auth)


def test_get_patch_and_delete(client, auth):
    slug = shorten(client, auth, slug="editme").get_json()["slug"]
    assert (
        client.get(f"/api/v1/links/{slug}", headers=auth).get_json()["url"]
        == "https://example.com/page"
    )

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    patched = client.patch(
        f"/api/v1/links/{slug}",
        json={"url": "https://example.org/new", "expires_at": later, "tags": ["x"]},
        headers=auth,
    )
    assert patched.status_code == 200
    assert patched.get_json()["url"] == "https://example.org/new"
    assert patched.get_json()["tags"] == ["x"]
    # null makes an expiring link permanent again
    assert (
        client.patch(f"/api/v1/links/{slug}", json={"expires_at": None}, headers=auth).get_json()[
            "expires_at"
        ]
        is None
    )
    assert (
        client.patch(
            f"/api/v1/links/{slug}", json={"url": "javascript:x"}, headers=auth
        ).status_code
        == 422
    )

    assert client.delete(f"/api/v1/links/{slug}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/links/{slug}", headers=auth).status_code == 410
    assert client.delete(f"/api/v1/links/{slug}", headers=auth).status_code == 410


def test_a_deleted_slug_is_never_reused(client, auth):
    shorten(client, auth, slug="once")
    client.delete("/api/v1/links/once", headers=auth)
    assert shorten(client, auth, "https://other.example/", slug="once").status_code == 409


def test_unknown_link_is_404_problem(client, auth):
    response = client.get("/api/v1/links/nothing-here", headers=auth)
    assert response.status_code == 404
    assert response.content_type == PROBLEM
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


def test_list_filters_by_tag_and_text_and_pages_stably(client, auth):
    for i in range(7):
        shorten(
            client,
            auth,
            f"https://example.com/item-{i}",
            slug=f"item-{i}",
            tags=["even" if i % 2 == 0 else "odd"],
        )
    shorten(client, auth, "https://other.example/", slug="zzz-other")

    assert [
        x["slug"] for x in client.get("/api/v1/links?tag=odd", headers=auth).get_json()["items"]
    ] == ["item-5", "item-3", "item-1"]
    assert [
        x["slug"] for x in client.get("/api/v1/links?q=OTHER", headers=auth).get_json()["items"]
    ] == ["zzz-other"]
    assert (
        client.get("/api/v1/links?q=100%25", headers=auth).get_json()["items"] == []
    )  # % is literal

    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/links?limit=3" + (f"&cursor={cursor}" if cursor else ""), headers=auth
        ).get_json()
        seen += [x["slug"] for x in page["items"]]
        # a link created mid-listing must not shift the pages being read
        shorten(client, auth, f"https://example.com/late-{len(seen)}")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["zzz-other"] + [f"item-{i}" for i in range(6, -1, -1)]


def test_list_rejects_bad_paging(client, auth):
    assert client.get("/api/v1/links?limit=0", headers=auth).status_code == 422
    assert client.get("/api/v1/links?cursor=abc", headers=auth).status_code == 422


def test_stats_refuse_dates_out_of_range_instead_of_failing(client, auth):
    shorten(client, auth, slug="ancient")
    for query in ("to=0001-01-05", "from=0001-01-01&to=0001-01-02", "to=9999-12-31"):
        response = client.get(f"/api/v1/links/ancient/stats?{query}", headers=auth)
        assert response.status_code == 422, query


def test_stats_reject_reversed_or_huge_ranges(client, auth):
    shorten(client, auth, slug="statme")
    assert (
        client.get(
            "/api/v1/links/statme/stats?from=2026-02-01&to=2026-01-01", headers=auth
        ).status_code
        == 422
    )
    assert (
        client.get(
            "/api/v1/links/statme/stats?from=2020-01-01&to=2026-01-01", headers=auth
        ).status_code
        == 422
    )
    assert client.get("/api/v1/links/statme/stats?from=yesterday", headers=auth).status_code == 422
