"""QR codes of short links through the API (the dashboard's downloads are the same bytes)."""

from __future__ import annotations

from snip.qr import qr_code
from tests.app.conftest import create_key, shorten


def test_the_api_serves_the_qr_code_of_a_short_link(client, auth):
    short_url = shorten(client, auth, slug="poster").get_json()["short_url"]
    png = client.get("/api/v1/links/poster/qr", headers=auth)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data == qr_code(short_url, "png") and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get("/api/v1/links/poster/qr?format=svg", headers=auth)
    assert svg.mimetype == "image/svg+xml" and f"QR code for {short_url}" in svg.text
    bad = client.get("/api/v1/links/poster/qr?format=gif", headers=auth)
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"


def test_only_the_owner_gets_the_qr_code(app, client, auth):
    shorten(client, auth, slug="poster")
    other = {"Authorization": f"Bearer {create_key(app, user='other@example.com')}"}
    assert client.get("/api/v1/links/poster/qr", headers=other).status_code == 404
    assert "/api/v1/links/{slug}/qr" in client.get("/openapi.json").get_json()["paths"]
