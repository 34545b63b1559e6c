"""Rate limits on writes: per API key and per client address, 429 with Retry-After."""

from __future__ import annotations

from tests.app.conftest import create_key, shorten


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
