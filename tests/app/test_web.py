"""The OpenAPI document, the docs page (local assets only), the home page and errors."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_lists_the_api(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert {"/api/v1/links", "/api/v1/links/{slug}", "/api/v1/links/{slug}/stats"} <= set(
        spec["paths"]
    )
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, "the docs page references no script or stylesheet"
    for asset in assets:
        assert asset.startswith("/static/swagger-ui/"), f"{asset} is not served locally"
        assert client.get(asset).status_code == 200


def test_home_page_links_to_the_docs(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/docs"' in page


def test_errors_are_problem_json_with_the_request_id(client):
    response = client.get("/api/v1/links", headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["request_id"] == "trace-123" == response.headers["X-Request-ID"]
    assert {"type", "title", "status", "detail", "instance"} <= set(body)


def test_wrong_method_is_405_problem(client):
    response = client.put("/api/v1/links")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert "POST" in response.headers["Allow"]


def test_an_unsafe_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; with <html> chars"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
