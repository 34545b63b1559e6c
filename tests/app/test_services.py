"""The service layer on its own: no HTTP, the same rules and errors the API answers with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snip import accounts
from snip.services import keys, links, stats
from snip.services.actor import Actor
from snip.services.errors import Conflict, Gone, Invalid, NotFound


def test_links_lifecycle_without_http(app):
    with app.app_context():
        owner = accounts.create_user("svc@example.com", "member")
        key, _plain = keys.create_key(name="svc", scopes=["write"], user=owner)
        actor = Actor.from_key(key)
        link, created = links.create_link(
            url=" https://example.com/x ", tags=["b", "a"], actor=actor
        )
        assert created and link.url == "https://example.com/x" and link.tag_names == ["a", "b"]
        assert link.created_by_key_id == key.id and link.owner_id == owner.id
        again, created = links.create_link(url="https://example.com/x", reuse=True, actor=actor)
        assert (again.id, created) == (link.id, False)

        with pytest.raises(Conflict):
            links.create_link(url="https://example.org/", slug=link.slug, actor=actor)
        with pytest.raises(Invalid) as bad:
            links.update_link(link.slug, {"url": "javascript:alert(1)"}, actor=actor)
        assert bad.value.field == "url"

        links.update_link(link.slug, {"tags": ["c"]}, actor=actor)
        assert links.get_link(link.slug, actor=actor).tag_names == ["c"]
        with pytest.raises(NotFound):  # nobody else's: anonymous, or another member
            links.get_link(link.slug)
        links.delete_link(link.slug, actor=actor)
        with pytest.raises(Gone):
            links.get_link(link.slug, actor=actor)
        with pytest.raises(NotFound):
            links.get_link("never-made", actor=actor)


def test_stats_range_rules(app):
    with app.app_context():
        link, _ = links.create_link(url="https://example.com/s")
        result = stats.link_stats(link)
        assert (result["to"] - result["from_"]).days == stats.DEFAULT_DAYS - 1
        assert result["total"] == 0 and result["daily"] == []
        with pytest.raises(Invalid):
            stats.date_range(result["to"], result["from_"])


def test_revoking_an_unknown_key_is_not_found(app):
    with app.app_context(), pytest.raises(NotFound, match="no API key with id 42"):
        keys.revoke_key(42)


def test_the_app_state_is_reached_only_through_state():
    src = Path(__file__).resolve().parents[2] / "src" / "snip"
    allowed = {src / "state.py", src / "migrations" / "env.py"}  # env.py: Flask-Migrate's own
    readers = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if path not in allowed and re.search(r"\.extensions(\[|\.get\()", path.read_text())
    ]
    assert readers == [], "use snip.state.state() instead of app.extensions"
