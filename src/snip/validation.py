"""Rules for what a link may point to and what a slug may look like.

Only http and https targets are accepted: javascript:, data:, vbscript:, file:
and every other scheme are refused, as are control characters, credentials in
the URL (a phishing trick: http://bank.example@evil.example), links back to
snip itself (redirect loops) and hosts on the operator's block list.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048  # what every mainstream browser and proxy handles
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
SLUG_RULE = "3-64 characters: letters, digits, '-' and '_', starting with a letter or digit"
RESERVED_SLUGS = frozenset(
    {
        "api",
        "docs",
        "healthz",
        "readyz",
        "metrics",
        "static",
        "openapi",
        "admin",
        "login",
        "logout",
        "favicon",
        "robots",
        "assets",
        "health",
        "status",
    }
)
CONTROL = re.compile(r"[\x00-\x20\x7f]")


def url_problem(url: str, own_host: str, blocked_hosts: tuple[str, ...]) -> str | None:
    """Why the URL cannot be shortened, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL is {len(url)} characters; the limit is {MAX_URL_LENGTH}"
    if CONTROL.search(url):
        return "URL contains spaces or control characters; percent-encode them"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"URL cannot be parsed: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        shown = scheme or "none"
        return f"URL scheme '{shown}' is not allowed; use http or https"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "URL has no host"
    if parts.username is not None or parts.password is not None:
        return "URL must not contain a user name or password"
    if host == own_host:
        return "URL points at this shortener itself, which would loop"
    for blocked in blocked_hosts:
        if host == blocked or host.endswith("." + blocked):
            return f"links to {blocked} are blocked on this server"
    return None


def slug_problem(slug: str) -> str | None:
    if not SLUG_PATTERN.match(slug):
        return f"slug must be {SLUG_RULE}"
    if slug.lower() in RESERVED_SLUGS:
        return f"slug '{slug}' is reserved"
    return None
