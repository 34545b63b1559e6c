"""Security headers: every HTML page gets a strict Content-Security-Policy and friends.

- Content-Security-Policy: only this origin's scripts, styles, images and fonts; no
  inline script or style unless it carries this response's nonce; no plugins; no
  <base> tag; forms post only here; no other site may frame the page.
- X-Frame-Options: DENY (frame-ancestors for browsers that predate it).
- Referrer-Policy: same-origin (dashboard URLs never leak to the sites links go to).
- X-Content-Type-Options: nosniff, on every response (JSON included).

Redirect responses are left alone: their body is never rendered, and the redirect is
the hot path. A page widens its policy only for itself:

    @bp.get("/qr/<slug>")
    @csp(img_src=["blob:"])            # underscores become dashes: img-src
    def qr(slug): ...

and an inline block it cannot avoid carries the nonce (a Jinja global):

    <script nonce="{{ csp_nonce() }}">...</script>

Prefer static files: /static/... is 'self'.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Final

from flask import Flask, Response, g

BASE_POLICY: Final[dict[str, tuple[str, ...]]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}
FIXED_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
NEVER_ALLOWED: Final = {"'unsafe-inline'", "'unsafe-eval'", "*"}


def _extra() -> dict[str, list[str]]:
    if "csp_extra" not in g:
        g.csp_extra = {}
    return g.csp_extra


def allow(directive: str, sources: Iterable[str]) -> None:
    """Add sources to one directive of this response's policy."""
    sources = list(sources)
    if NEVER_ALLOWED.intersection(sources):
        raise ValueError(f"{directive}: {sorted(NEVER_ALLOWED)} would undo the policy")
    _extra().setdefault(directive, []).extend(sources)


def csp(**directives: Iterable[str]) -> Callable:
    """Decorator: widen the policy of one view, e.g. @csp(img_src=["blob:"])."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            for name, sources in directives.items():
                allow(name.replace("_", "-"), sources)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def csp_nonce() -> str:
    """This response's nonce, allowed for scripts and styles (use in templates)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
        allow("script-src", [f"'nonce-{g.csp_nonce}'"])
        allow("style-src", [f"'nonce-{g.csp_nonce}'"])
    return g.csp_nonce


def policy() -> str:
    """The Content-Security-Policy of the current response."""
    extra: dict[str, list[str]] = g.get("csp_extra", {})
    parts = []
    for name in dict.fromkeys((*BASE_POLICY, *extra)):
        merged = dict.fromkeys((*BASE_POLICY.get(name, ()), *extra.get(name, ())))
        parts.append(f"{name} {' '.join(merged)}")
    return "; ".join(parts)


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html" and not 300 <= response.status_code < 400:
        response.headers["Content-Security-Policy"] = policy()
        for name, value in FIXED_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
