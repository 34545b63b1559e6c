"""API keys: required, scoped, revocable, and stored only as a hash."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from snip.extensions import db
from snip.models import ApiKey
from tests.app.conftest import create_key, shorten


def test_writes_need_a_key(client):
    response = client.post("/api/v1/links", json={"url": "https://example.com/"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.content_type == "application/problem+json"


def test_wrong_scheme_and_unknown_key_are_401(client):
    assert shorten(client, {"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    assert shorten(client, {"Authorization": "Bearer snip_not-a-real-key"}).status_code == 401


def test_read_only_key_cannot_write(app, client):
    read_only = {"Authorization": f"Bearer {create_key(app, ('read',))}"}
    response = shorten(client, read_only)
    assert response.status_code == 403
    assert "write" in response.get_json()["detail"]
    assert client.get("/api/v1/links", headers=read_only).status_code == 200


def test_write_only_key_cannot_read(app, client):
    write_only = {"Authorization": f"Bearer {create_key(app, ('write',))}"}
    assert client.get("/api/v1/links", headers=write_only).status_code == 403


def test_revoked_key_stops_working(app, client, auth):
    assert shorten(client, auth).status_code == 201
    with app.app_context():
        from snip.services.keys import revoke

        revoke(db.session.scalars(select(ApiKey)).one())
        db.session.commit()
    assert shorten(client, auth).status_code == 401


def test_only_the_hash_is_stored(app, auth):
    plain = auth["Authorization"].split()[1]
    with app.app_context():
        row = db.session.scalars(select(ApiKey)).one()
        assert row.key_hash == hashlib.sha256(plain.encode()).hexdigest()
        secret_part = plain[len(row.prefix) :]  # the prefix is shown on purpose, to tell keys apart
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
        assert not any(secret_part in value for value in stored)


def test_anonymous_creation_is_off_by_default_and_can_be_switched_on(make_app, backend_env):
    anonymous = make_app({**backend_env, "SNIP_ALLOW_ANONYMOUS_CREATE": "true"}).test_client()
    assert shorten(anonymous, {}).status_code == 201
    assert anonymous.get("/api/v1/links").status_code == 401  # reading still needs a key
