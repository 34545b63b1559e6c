"""Rules for what a link may point to and what a slug may look like.

Only http and https targets are accepted: javascript:, data:, vbscript:, file:
and every other scheme are refused, as are control and invisible characters,
backslashes (browsers read them as '/'), credentials in the URL (a phishing
trick: http://bank.example@evil.example), links back to snip itself (redirect
loops) and hosts on the operator's block list. Host names are compared in their
IDNA (punycode) form and IP addresses in canonical form, so a look-alike
spelling (fullwidth letters, a soft hyphen, 127.1) cannot slip past a rule.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048  # what every mainstream browser and proxy handles
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
SLUG_RULE = "3-64 characters: letters, digits, '-' and '_', starting with a letter or digit"
RESERVED_SLUGS = frozenset(
    {"api", "docs", "healthz", "readyz", "metrics", "static", "openapi", "admin", "login",
     "logout", "favicon", "robots", "assets", "health", "status"}
)  # fmt: skip
CONTROL = re.compile(r"[\x00-\x20\x7f]")
INVISIBLE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"}  # spaces, format marks, surrogates


def canonical_host(host: str) -> str | None:
    """The host as a rule must see it: IDNA A-label, or a canonical IP; None if invalid."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        return str(getattr(address, "ipv4_mapped", None) or address)  # ::ffff:127.0.0.1 too
    except ValueError:
        pass
    try:
        # Legacy IPv4 spellings browsers still accept: 127.1, 2130706433, 0x7f.1
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        pass
    try:
        # Python's IDNA codec applies nameprep: fullwidth letters fold, soft hyphens
        # and zero-width characters vanish, and '。' separates labels like '.'.
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def url_problem(url: str, own_host: str, blocked_hosts: tuple[str, ...]) -> str | None:
    """Why the URL cannot be shortened, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL is {len(url)} characters; the limit is {MAX_URL_LENGTH}"
    if CONTROL.search(url):
        return "URL contains spaces or control characters; percent-encode them"
    if any(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in url):
        return "URL contains invisible or space characters; percent-encode them"
    if "\\" in url:
        return "URL contains a backslash, which browsers read as '/'; percent-encode it as %5C"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"URL cannot be parsed: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        shown = scheme or "none"
        return f"URL scheme '{shown}' is not allowed; use http or https"
    raw_host = parts.hostname or ""
    if not raw_host:
        return "URL has no host"
    if parts.username is not None or parts.password is not None:
        return "URL must not contain a user name or password"
    if "%" in raw_host:
        return "URL host must not be percent-encoded"
    host = canonical_host(raw_host)
    if host is None:
        return f"URL host '{raw_host}' is not a valid host name"
    if host == canonical_host(own_host):
        return "URL points at this shortener itself, which would loop"
    for blocked in blocked_hosts:
        rule = canonical_host(blocked) or blocked
        if host == rule or host.endswith("." + rule):
            return f"links to {blocked} are blocked on this server"
    return None


def slug_problem(slug: str) -> str | None:
    if not SLUG_PATTERN.match(slug):
        return f"slug must be {SLUG_RULE}"
    if slug.lower() in RESERVED_SLUGS:
        return f"slug '{slug}' is reserved"
    return None
