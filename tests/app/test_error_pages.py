"""Visitors get pages in plain words; API clients keep problem+json (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snip.extensions import db
from snip.models import Link
from snip.state import state
from tests.app.conftest import shorten

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def expire(app, slug: str) -> None:
    with app.app_context():
        link = db.session.query(Link).filter_by(slug=slug).one()
        link.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
        state().cache.invalidate(slug)  # time passing, without waiting for it


def test_an_unknown_link_is_a_404_page_for_people_and_json_for_tools(client):
    page = client.get("/no-such-link", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "This short link does not exist" in page.get_data(as_text=True)
    tool = client.get("/no-such-link")  # curl sends */*
    assert tool.status_code == 404 and tool.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("deleted", "This link was removed"),
        ("expired", "This link has expired"),
        ("used-up", "This link has been used up"),
    ],
)
def test_dead_links_say_why_in_plain_words(app, client, auth, how, words):
    shorten(client, auth, slug="dead-link", max_clicks=1 if how == "used-up" else None)
    if how == "deleted":
        client.delete("/api/v1/links/dead-link", headers=auth)
    elif how == "expired":
        expire(app, "dead-link")
    else:
        assert client.get("/dead-link").status_code == 302  # the one use
    page = client.get("/dead-link", headers=BROWSER)
    assert page.status_code == 410
    body = page.get_data(as_text=True)
    assert words in body and '"detail"' not in body
    assert "Content-Security-Policy" in page.headers
    assert client.get("/dead-link").content_type == "application/problem+json"
    api = client.get("/api/v1/links/never-made", headers={**auth, **BROWSER})
    assert api.content_type == "application/problem+json"  # the API never answers HTML


def test_operators_can_send_visitors_elsewhere(make_app, backend_env):
    app = make_app(
        {
            **backend_env,
            "SNIP_FALLBACK_URL_UNKNOWN": "https://example.com/not-found",
            "SNIP_FALLBACK_URL_EXPIRED": "https://example.com/expired",
        }
    )
    client = app.test_client()
    from tests.app.conftest import create_key

    auth = {"Authorization": f"Bearer {create_key(app)}"}
    unknown = client.get("/never-made", headers=BROWSER)
    assert (unknown.status_code, unknown.headers["Location"]) == (
        302,
        "https://example.com/not-found",
    )
    shorten(client, auth, slug="old-offer")
    expire(app, "old-offer")
    expired = client.get("/old-offer")
    assert expired.headers["Location"] == "https://example.com/expired"
    shorten(client, auth, slug="removed")
    client.delete("/api/v1/links/removed", headers=auth)
    assert client.get("/removed", headers=BROWSER).status_code == 410  # deleted: no fallback


def test_favicon_and_robots(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/x-icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and "Disallow: /" in robots.get_data(as_text=True)
