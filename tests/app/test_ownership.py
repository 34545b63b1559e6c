"""Links and keys have owners (issue 13): members see and change only their own links,
admins all, through the API and the dashboard alike."""

from __future__ import annotations

from snip.extensions import db
from snip.models import Link
from tests.app.conftest import create_key, create_user, shorten
from tests.app.webclient import PASSWORD, post_form, sign_in


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_cannot_touch_another_users_link(app, client):
    ann = bearer(create_key(app, user="ann@example.com"))
    bob = bearer(create_key(app, user="bob@example.com"))
    assert shorten(client, ann, "https://ann.example/", slug="anns-link").status_code == 201

    # Bob's key: the link is not his, so for him it does not exist.
    changed = client.patch(
        "/api/v1/links/anns-link", json={"url": "https://evil.example/"}, headers=bob
    )
    assert changed.status_code == 404
    assert changed.content_type == "application/problem+json"
    assert client.delete("/api/v1/links/anns-link", headers=bob).status_code == 404
    assert client.get("/api/v1/links/anns-link", headers=bob).status_code == 404
    assert client.get("/api/v1/links/anns-link/stats", headers=bob).status_code == 404
    assert client.get("/api/v1/links", headers=bob).get_json()["items"] == []

    # Nothing changed: the link still sends visitors where Ann wants.
    assert client.get("/anns-link").headers["Location"] == "https://ann.example/"
    mine = client.get("/api/v1/links", headers=ann).get_json()["items"]
    assert [link["slug"] for link in mine] == ["anns-link"]


def test_reuse_never_hands_out_someone_elses_link(app, client):
    ann = bearer(create_key(app, user="ann@example.com"))
    bob = bearer(create_key(app, user="bob@example.com"))
    first = shorten(client, ann, "https://shared.example/").get_json()
    reused = shorten(client, bob, "https://shared.example/", reuse=True)
    assert reused.status_code == 201  # a new link of Bob's own
    assert reused.get_json()["slug"] != first["slug"]
    again = shorten(client, ann, "https://shared.example/", reuse=True)
    assert again.status_code == 200 and again.get_json()["slug"] == first["slug"]


def test_an_admin_manages_every_link_and_is_named_as_its_last_editor(app, client):
    ann = bearer(create_key(app, user="ann@example.com"))
    create_user(app, "root@example.com", "admin", PASSWORD)
    admin = bearer(create_key(app, user="root@example.com"))
    shorten(client, ann, "https://ann.example/", slug="anns-link")
    response = client.patch(
        "/api/v1/links/anns-link", json={"url": "https://fixed.example/"}, headers=admin
    )
    assert response.status_code == 200
    with app.app_context():
        link = db.session.query(Link).filter_by(slug="anns-link").one()
        assert link.owner.email == "ann@example.com"
        assert link.updated_by.email == "root@example.com"
    sign_in(client, "root@example.com")
    page = client.get("/links/anns-link").get_data(as_text=True)
    assert "by ann@example.com" in page and "by root@example.com" in page


def test_the_dashboard_hides_other_members_links(app, client):
    ann_key = bearer(create_key(app, user="ann@example.com"))
    create_user(app, "bob@example.com", "member")
    with app.app_context():
        from snip import accounts

        for email in ("ann@example.com", "bob@example.com"):
            accounts.change_password(accounts.find_user(email), PASSWORD)
    shorten(client, ann_key, "https://ann.example/", slug="anns-link")

    bob = app.test_client()
    sign_in(bob, "bob@example.com")
    assert "anns-link" not in bob.get("/links").get_data(as_text=True)
    assert bob.get("/links/anns-link").status_code == 404
    assert bob.get("/links/anns-link/edit").status_code == 404
    assert bob.get("/links/anns-link/qr.png").status_code == 404
    attempt = post_form(bob, "/links/anns-link/delete", {}, token_from="/links")
    assert attempt.status_code == 404
    assert client.get("/anns-link").status_code == 302  # still alive

    ann = app.test_client()
    sign_in(ann, "ann@example.com")
    assert "anns-link" in ann.get("/links").get_data(as_text=True)
