"""A tiny helper for driving the dashboard's forms with Flask's test client (CSRF included)."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "correct horse battery"


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = CSRF.search(page)
    assert found, f"no CSRF token on {path}"
    return html.unescape(found.group(1))


def post_form(client: FlaskClient, path: str, data: dict, *, token_from: str | None = None):
    token = csrf_token(client, token_from or path)
    return client.post(path, data={"csrf_token": token, **data})


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD):
    return post_form(client, "/login", {"email": email, "password": password})
