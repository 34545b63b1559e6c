"""Hostile and sloppy inputs get a 4xx problem that names the problem (issues 12 and 13).

Each test here failed on the code before the fix, for the reason a client would see.
"""

from __future__ import annotations

import pytest

from tests.app.conftest import create_key, shorten
from tests.support import servers

PROBLEM = "application/problem+json"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.content_type == PROBLEM
    return response.get_json()


def test_a_deeply_nested_body_is_400_not_500(client, auth):
    body = "[" * 20_000 + "]" * 20_000  # 40 kB: under the size limit, deep enough to crash json
    response = client.post(
        "/api/v1/links", data=body, content_type="application/json", headers=auth
    )
    assert "nested" in problem(response, 400)["detail"]
    assert problem(response, 400)["type"].endswith("#invalid-json")


def test_moderate_nesting_is_still_a_plain_validation_error(client, auth):
    response = shorten(client, auth, tags=[[["x"]]])
    assert problem(response, 422)["errors"][0]["field"].startswith("tags")


def test_a_body_that_is_not_json_is_400(client, auth):
    response = client.post(
        "/api/v1/links", data='{"url": ', content_type="application/json", headers=auth
    )
    assert "not valid JSON" in problem(response, 400)["detail"]


def test_an_oversized_body_is_413_before_it_is_parsed(client, auth):
    body = '{"url": "https://example.com/", "pad": "' + "x" * 70_000 + '"}'
    response = client.post(
        "/api/v1/links", data=body, content_type="application/json", headers=auth
    )
    assert problem(response, 413)["type"].endswith("#request-entity-too-large")


def test_the_body_limit_is_a_setting(make_app, sqlite_env):
    app = make_app({**sqlite_env, "SNIP_MAX_BODY_BYTES": "200000"})
    key = create_key(app)
    body = '{"url": "https://example.com/", "pad": "' + "x" * 70_000 + '"}'
    response = app.test_client().post(
        "/api/v1/links",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert problem(response, 422)["errors"][0]["field"] == "pad"  # read, then refused by field


@pytest.mark.parametrize("value", [1.5, 1.0, True, "3"])
def test_max_clicks_must_be_a_whole_number_not_truncated(client, auth, value):
    errors = problem(shorten(client, auth, max_clicks=value), 422)["errors"]
    assert errors[0]["field"] == "max_clicks"


def test_reuse_must_be_a_json_boolean(client, auth):
    errors = problem(shorten(client, auth, reuse="yes"), 422)["errors"]
    assert errors[0]["field"] == "reuse"


@pytest.mark.parametrize(
    ("blocked", "url"),
    [
        ("xn--fa-hia.example", "https://faß.example/"),  # UTS 46 keeps ß (IDNA 2003: "fass")
        ("faß.example", "https://xn--fa-hia.example/"),
        ("evil.example", "https://evil.example\u3002/login"),  # ideographic full stop
        ("evil.example", "https://evil.example\uff0e/login"),  # fullwidth full stop
        ("evil.example", "https://evil.example\uff61/login"),  # halfwidth ideographic
        ("evil.example", "https://www.evil.example\u3002/"),
    ],
)
def test_host_rules_see_hosts_as_browsers_do(make_app, sqlite_env, blocked, url):
    app = make_app({**sqlite_env, "SNIP_BLOCKED_HOSTS": blocked})
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    errors = problem(shorten(app.test_client(), auth, url), 422)["errors"]
    assert "blocked" in errors[0]["message"]


def test_fass_is_not_fass_with_ss(make_app, sqlite_env):
    # Browsers (UTS 46, non-transitional) send faß.example to xn--fa-hia, not to fass.
    app = make_app({**sqlite_env, "SNIP_BLOCKED_HOSTS": "fass.example"})
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    assert shorten(app.test_client(), auth, "https://faß.example/").status_code == 201


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
def test_the_self_loop_check_sees_a_trailing_full_stop(make_app, sqlite_env, dot):
    app = make_app({**sqlite_env, "SNIP_BASE_URL": "https://sn.example"})
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    url = f"https://sn.example{dot}/somewhere"
    errors = problem(shorten(app.test_client(), auth, url), 422)["errors"]
    assert "shortener itself" in errors[0]["message"]


@pytest.mark.parametrize(
    "fields",
    [{"slug": "docs\n"}, {"slug": "fine-slug\n"}, {"tags": ["news\n"]}],
)
def test_a_trailing_newline_is_refused_not_a_500(client, auth, fields):
    field = next(iter(fields))
    errors = problem(shorten(client, auth, **fields), 422)["errors"]
    assert errors[0]["field"].startswith(field)


def test_a_trailing_newline_in_a_tag_filter_is_refused(client, auth):
    problem(client.get("/api/v1/links?tag=news%0A", headers=auth), 422)


def test_patch_with_a_slug_says_slugs_cannot_change(client, auth):
    shorten(client, auth, slug="fixed")
    response = client.patch("/api/v1/links/fixed", json={"slug": "other"}, headers=auth)
    errors = problem(response, 422)["errors"]
    assert errors == [
        {
            "field": "slug",
            "message": "a slug cannot change (printed links would break); "
            "create a new link with the slug you want and delete this one",
        }
    ]


def test_patch_without_a_json_body_is_refused(client, auth):
    shorten(client, auth, slug="nobody")
    assert problem(client.patch("/api/v1/links/nobody", headers=auth), 422)["errors"] == [
        {"field": "body", "message": "send a JSON object with the fields to change"}
    ]


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00", "tomorrow", "2030-13-01T00:00Z"])
def test_a_bad_expiry_is_explained_in_plain_words(client, auth, value):
    errors = problem(shorten(client, auth, expires_at=value), 422)["errors"]
    assert errors == [
        {
            "field": "expires_at",
            "message": "must be an ISO 8601 date-time with a time zone, like 2026-12-31T23:59:00Z",
        }
    ]


def test_a_missing_database_is_one_line_with_the_fix(postgres_admin_url):
    url = postgres_admin_url.rsplit("/", 1)[0] + "/snip_does_not_exist"
    result = servers.run_snip_cli(
        "db", "upgrade", env=servers.snip_env(DATABASE_URL=url), check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'snip_does_not_exist' does not exist" in lines[0]
    assert "createdb" in lines[0] and "snip_does_not_exist" in lines[0]
