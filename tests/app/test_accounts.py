"""Accounts: sign in and out, sessions, CSRF, lockout, no user enumeration, invites, resets."""

from __future__ import annotations

import re

from snip import accounts
from snip.extensions import db
from snip.models import User
from tests.app.conftest import create_key, create_user, shorten
from tests.app.webclient import PASSWORD, csrf_token, post_form, sign_in


def test_the_sign_in_form_names_its_fields_for_people(client):
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<label for="email">Email</label>', page)
    assert re.search(r'<label for="password">Password</label>', page)
    assert re.search(r'<button type="submit" class="button">Sign in</button>', page)


def test_signing_in_opens_the_dashboard_with_a_hardened_cookie(app, client):
    create_user(app, "ann@example.com", "member", PASSWORD)
    response = sign_in(client, "ANN@example.com ")
    assert response.status_code == 302 and response.headers["Location"] == "/links"
    cookie = response.headers["Set-Cookie"]
    assert "snip_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/links").status_code == 200
    post_form(client, "/logout", {}, token_from="/links")
    assert client.get("/links").status_code == 302  # back to the sign-in page


def test_the_cookie_is_secure_behind_https(make_app, backend_env):
    app = make_app({**backend_env, "SNIP_BASE_URL": "https://s.example"})
    create_user(app, "ann@example.com", "member", PASSWORD)
    client = app.test_client()
    response = post_form(client, "/login", {"email": "ann@example.com", "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_and_an_unknown_email_look_the_same(app, client):
    create_user(app, "ann@example.com", "member", PASSWORD)
    wrong = sign_in(client, "ann@example.com", "not the password")
    unknown = sign_in(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong).replace("ann@example.com", "X") == strip(unknown).replace(
        "nobody@example.com", "X"
    )
    assert "Email or password is wrong" in wrong.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(app, client):
    create_user(app, "ann@example.com", "member", PASSWORD)
    response = client.post(
        "/login",
        data={"email": "ann@example.com", "password": PASSWORD},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert "snip_session" not in response.headers.get("Set-Cookie", "") or "uid" not in str(
        response.headers
    )
    assert client.get("/links").status_code == 302  # not signed in


def test_five_failures_lock_the_account_even_for_the_right_password(app, client):
    create_user(app, "ann@example.com", "member", PASSWORD)
    for _ in range(5):
        assert sign_in(client, "ann@example.com", "guess guess guess").status_code == 401
    locked = sign_in(client, "ann@example.com", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    # An unknown address locks the same way, so the lockout reveals no account.
    for _ in range(5):
        assert sign_in(client, "ghost@example.com", "guess guess guess").status_code == 401
    assert sign_in(client, "ghost@example.com", "guess").status_code == 429
    # Other accounts are not locked by it.
    create_user(app, "bob@example.com", "member", PASSWORD)
    assert sign_in(client, "bob@example.com", PASSWORD).status_code == 302


def test_an_invite_link_works_once(app, client):
    create_user(app, "admin@example.com", "admin", PASSWORD)
    sign_in(client, "admin@example.com")
    page = post_form(client, "/users", {"email": "new@example.com", "role": "member"})
    assert page.status_code == 201
    link = re.search(r'value="(http://[^"]+/accept/[^"]+)"', page.get_data(as_text=True)).group(1)
    path = link.split("8000", 1)[1]
    invited = app.test_client()
    set_page = post_form(
        invited, path, {"password": "a brand new secret", "confirm": "a brand new secret"}
    )
    assert set_page.status_code == 302
    assert sign_in(invited, "new@example.com", "a brand new secret").status_code == 302
    assert app.test_client().get(path).status_code == 404  # used up


def test_disabling_a_user_ends_their_sessions_and_keys(app, client):
    create_user(app, "admin@example.com", "admin", PASSWORD)
    member_id = create_user(app, "mia@example.com", "member", PASSWORD)
    key = {"Authorization": f"Bearer {create_key(app, user='mia@example.com')}"}
    assert shorten(client, key).status_code == 201
    mia = app.test_client()
    sign_in(mia, "mia@example.com")
    assert mia.get("/links").status_code == 200

    sign_in(client, "admin@example.com")
    response = post_form(client, f"/users/{member_id}/disable", {}, token_from="/users")
    assert response.status_code == 302
    assert mia.get("/links").status_code == 302  # signed out
    assert shorten(app.test_client(), key).status_code == 401
    assert sign_in(app.test_client(), "mia@example.com").status_code == 401


def test_a_reset_signs_out_and_hands_out_a_new_link(app, client):
    create_user(app, "admin@example.com", "admin", PASSWORD)
    member_id = create_user(app, "mia@example.com", "member", PASSWORD)
    mia = app.test_client()
    sign_in(mia, "mia@example.com")
    sign_in(client, "admin@example.com")
    page = post_form(client, f"/users/{member_id}/reset", {}, token_from="/users")
    assert "/accept/" in page.get_data(as_text=True)
    assert mia.get("/links").status_code == 302
    assert sign_in(app.test_client(), "mia@example.com").status_code == 401  # old password gone


def test_members_cannot_manage_users(app, client):
    create_user(app, "mia@example.com", "member", PASSWORD)
    sign_in(client, "mia@example.com")
    assert client.get("/users").status_code == 403


def test_the_last_admin_cannot_be_disabled(app):
    admin_id = create_user(app, "admin@example.com", "admin", PASSWORD)
    with app.app_context():
        admin = db.session.get(User, admin_id)
        try:
            accounts.set_disabled(admin, True, by=admin)
        except accounts.AccountError as exc:
            assert "yourself" in str(exc)
        else:
            raise AssertionError("an admin disabled themselves")


def test_a_new_key_is_shown_once(app, client):
    create_user(app, "mia@example.com", "member", PASSWORD)
    sign_in(client, "mia@example.com")
    token = csrf_token(client, "/keys")
    page = client.post("/keys", data={"csrf_token": token, "name": "laptop", "scopes": ["read"]})
    assert page.status_code == 201
    key = re.search(r'value="(snip_[^"]+)"', page.get_data(as_text=True)).group(1)
    assert (
        app.test_client()
        .get("/api/v1/links", headers={"Authorization": f"Bearer {key}"})
        .status_code
        == 200
    )
    assert key not in client.get("/keys").get_data(as_text=True)
