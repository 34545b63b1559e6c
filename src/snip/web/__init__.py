"""The dashboard for people: sign in, links, stats, QR codes, API keys, users.

Server-rendered pages (Flask templates) with one small script of our own; every
asset is served from this server (no CDN), and pages carry snip.headers'
Content-Security-Policy, which allows nothing inline: the templates need no nonce.
Every form is CSRF-protected (Flask-WTF).
"""

from __future__ import annotations

from flask import Blueprint, Flask, request

from snip.models import as_utc
from snip.web import session as web_session

bp = Blueprint("web", __name__)


@bp.before_request
def check_csrf() -> None:
    if request.method == "POST":
        web_session.csrf.protect()


@bp.after_request
def private_pages(response):
    # Signed-in pages show private data: never cached by the browser or a proxy.
    # (The Content-Security-Policy and friends come from snip.headers, for every page.)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def register(app: Flask) -> None:
    from snip.web import account, keys, links, pages, users  # noqa: F401 (routes)

    web_session.init_app(app)
    app.context_processor(template_globals)
    app.add_template_filter(day)
    app.add_template_filter(when)
    app.add_template_filter(shorten_url)
    app.register_blueprint(bp)


def template_globals() -> dict:
    from snip.web.session import current_user

    return {"current_user": current_user()}


def day(value) -> str:
    value = as_utc(value)
    return value.strftime("%d %b %Y") if value else ""


def when(value) -> str:
    value = as_utc(value)
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


def shorten_url(url: str, limit: int = 60) -> str:
    """The start of a long URL, without its scheme, for a table cell (the full one is a tooltip)."""
    text = url.split("://", 1)[-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"
