"""The OpenAPI document, the docs page (local assets only), the home page and errors."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

SRC = Path(__file__).resolve().parents[2] / "src" / "snip"


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


def test_every_error_response_in_the_document_is_problem_json(client):
    spec = client.get("/openapi.json").get_json()
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(
        problem["required"]
    )
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "patch", "delete", "put", "head"}:
                continue
            errors = {s: r for s, r in operation["responses"].items() if not s.startswith("2")}
            assert {"401", "403", "503", "default"} <= set(errors), f"{method} {path}"
            for status, response in errors.items():
                name = response["$ref"].rsplit("/", 1)[1]
                content = spec["components"]["responses"][name]["content"]
                assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
                assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_swagger_ui_is_current(client):
    # swagger-ui-bundle shipped Swagger UI 4.15 (2023); the docs page now uses 5.x.
    version = client.get("/static/swagger-ui/VERSION").get_data(as_text=True).strip()
    assert int(version.lstrip("v").split(".")[0]) >= 5, version
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.get_data()


def test_an_error_type_url_resolves_to_its_explanation_on_this_server(client):
    body = client.get("/api/v1/links").get_json()  # no key: 401
    base, _, anchor = body["type"].partition("#")
    assert base == "http://127.0.0.1:8000/docs/errors" and anchor == "unauthorized"
    page = client.get("/docs/errors")
    assert page.status_code == 200
    assert f'id="{anchor}"' in page.get_data(as_text=True)


def test_every_error_kind_in_the_code_is_documented():
    from snip.errors import ERROR_TYPES

    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    kinds = set(re.findall(r'kind\s*=\s*"([a-z-]+)"', source))
    assert kinds, "no kinds found: the pattern is out of date"
    assert kinds <= set(ERROR_TYPES), kinds - set(ERROR_TYPES)
    api_md = (SRC.parents[1] / "docs" / "api.md").read_text()
    documented = set(re.findall(r'<a id="([a-z-]+)"></a>', api_md))
    assert documented == set(ERROR_TYPES)
