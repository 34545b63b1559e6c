"""Pages for everyone: the HTML error pages, the favicon and robots.txt.

A person who follows a dead or unknown short link in a browser gets a page that
says so in plain words (404 or 410); API clients and tools that do not ask for
HTML keep RFC 9457 problem+json. The operator may send visitors of unknown or
expired links to a page of their own instead (SNIP_FALLBACK_URL_UNKNOWN,
SNIP_FALLBACK_URL_EXPIRED).
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, send_from_directory
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from snip.state import state
from snip.web import bp

# What a visitor reads, by the reason the redirect gave (see redirect.py).
VISITOR_MESSAGES: dict[str, tuple[str, str | None]] = {
    "not-found": ("This short link does not exist", "Check the address for a typo."),
    "deleted": ("This link was removed", "Its owner deleted it; it will not work again."),
    "expired": ("This link has expired", "It was only meant to work until a set time."),
    "used-up": (
        "This link has been used up",
        "It was made to work only a limited number of times, and that many visits are done.",
    ),
}
GENERAL_MESSAGES: dict[int, tuple[str, str | None]] = {
    400: ("Something in the request was not right", None),
    401: ("Please sign in", None),
    403: ("You may not open this page", "Ask an admin if you think you should."),
    404: ("Page not found", "Check the address for a typo."),
    405: ("That does not work here", None),
    413: ("That is too large", None),
    429: ("Slow down a little", "Too many requests in a short time; try again in a minute."),
    500: ("Something went wrong on our side", "Try again in a moment."),
    503: ("snip is unavailable for a moment", "Try again in a few seconds."),
}
ROBOTS = """# snip: short links and a private dashboard; nothing here is for search indexes.
User-agent: *
Disallow: /
"""


def wants_html() -> bool:
    """True for a browser asking for a page; the API always answers problem+json."""
    if request.path.startswith("/api/"):
        return False
    if request.blueprint == "web":  # the dashboard's own pages and forms
        return True
    best = request.accept_mimetypes.best_match(
        ["application/json", "application/problem+json", "text/html"]
    )
    return best == "text/html"


def is_visitor_request() -> bool:
    return request.endpoint == "redirect.follow"


def link_reason(exc: HTTPException) -> str | None:
    """not-found, deleted, expired or used-up, for errors of the redirect path."""
    if exc.code == 404:
        return "not-found"
    return getattr(exc, "reason", None) if exc.code == 410 else None


def fallback_redirect(exc: HTTPException):
    """The operator's fallback for an unknown or expired link, when set (else None)."""
    if not is_visitor_request():
        return None
    settings = state().settings
    reason = link_reason(exc)
    target = {
        "not-found": settings.fallback_url_unknown,
        "expired": settings.fallback_url_expired,
        "used-up": settings.fallback_url_expired,
    }.get(reason or "")
    return redirect(target, code=302) if target else None


def html_error(exc: HTTPException):
    status = exc.code or 500
    reason = link_reason(exc) if is_visitor_request() else None
    if status == 429 and request.endpoint == "web.login":
        from snip.web.account import locked_out_page

        body, status = locked_out_page()
    elif isinstance(exc, CSRFError):
        body = render_template(
            "error.html",
            status=400,
            title="This form has expired",
            text="Go back, reload the page and send the form again.",
        )
    elif reason in VISITOR_MESSAGES:
        title, text = VISITOR_MESSAGES[reason]
        body = render_template("error.html", status=status, title=title, text=text, visitor=True)
    else:
        title, text = GENERAL_MESSAGES.get(status, (exc.name or "Error", None))
        body = render_template("error.html", status=status, title=title, text=text)
    response = current_app.response_class(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    for name in ("Allow", "Retry-After"):
        if name in getattr(exc, "extra_headers", {}):
            response.headers[name] = exc.extra_headers[name]  # type: ignore[attr-defined]
    return response


@bp.get("/favicon.ico")
def favicon():
    return send_from_directory(
        current_app.static_folder or "", "favicon.ico", max_age=86400, mimetype="image/x-icon"
    )


@bp.get("/robots.txt")
def robots():
    return current_app.response_class(
        ROBOTS, mimetype="text/plain", headers={"Cache-Control": "public, max-age=86400"}
    )
