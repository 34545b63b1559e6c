"""Rules for what a link may point to and what a slug may look like.

Only http and https targets are accepted: javascript:, data:, vbscript:, file:
and every other scheme are refused, as are control and invisible characters,
backslashes (browsers read them as '/'), credentials in the URL (a phishing
trick: http://bank.example@evil.example), links back to snip itself (redirect
loops) and hosts on the operator's block list. Host names are compared the way
browsers read them (UTS 46 mapping, then IDNA 2008 A-labels) and IP addresses in
canonical form, so a look-alike spelling (fullwidth letters, 'ß', an ideographic
full stop, a trailing dot, 127.1) cannot slip past a rule.

Patterns are matched with ``fullmatch``: ``$`` alone would accept a trailing newline.
The ``*_SCHEMA_PATTERN`` strings are the same rules for the OpenAPI document
(ECMA-262 regular expressions, which have no ``\\Z``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

import idna

MAX_URL_LENGTH = 2048  # what every mainstream browser and proxy handles
SLUG_SCHEMA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"
SLUG_PATTERN = re.compile(SLUG_SCHEMA_PATTERN)
SLUG_RULE = "3-64 characters: letters, digits, '-' and '_', starting with a letter or digit"
RESERVED_SLUGS = frozenset(
    {"api", "docs", "healthz", "readyz", "metrics", "static", "openapi", "admin", "login",
     "logout", "favicon", "robots", "assets", "health", "status",
     # the dashboard's own pages
     "links", "keys", "users", "account", "accept"}
)  # fmt: skip
CONTROL = re.compile(r"[\x00-\x20\x7f]")
INVISIBLE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"}  # spaces, format marks, surrogates
ASCII_LABEL = re.compile(r"[a-z0-9_-]{1,63}")  # letters, digits, hyphen; '_' as browsers allow


def is_slug(value: str) -> bool:
    return SLUG_PATTERN.fullmatch(value) is not None


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


# The slug rule with the reserved words left out (case-insensitively), for the spec.
SLUG_SCHEMA_PATTERN_UNRESERVED = (
    "^(?!(?:"
    + "|".join(_any_case(w) for w in sorted(RESERVED_SLUGS))
    + ")$)"
    + SLUG_SCHEMA_PATTERN[1:]
)
# The ASCII form of the URLs snip accepts: http(s), a host of letters, digits, '-' and
# '_' labels, an optional port, then any printable ASCII but the backslash. Unicode
# host names and paths (IRIs) are accepted too, by the same rules.
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_LABEL = r"[A-Za-z0-9_-]{1,63}"
URL_SCHEMA_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://{_LABEL}(?:\.{_LABEL})*\.?(?::{_PORT})?(?:[/?#][!-\[\]-~]*)?$"
)


def canonical_host(host: str) -> str | None:
    """The host as a rule must see it: IDNA A-label, or a canonical IP; None if invalid."""
    host = host.lower()
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        return str(getattr(address, "ipv4_mapped", None) or address)  # ::ffff:127.0.0.1 too
    except ValueError:
        pass
    try:
        # UTS 46, as browsers do: fullwidth letters fold, 'ß' stays (non-transitional),
        # and the full stops U+3002, U+FF0E and U+FF61 become '.'. Only then is a trailing dot
        # (the same host to DNS and browsers) dropped.
        host = idna.uts46_remap(host, std3_rules=False, transitional=False).rstrip(".")
    except (idna.IDNAError, UnicodeError):
        return None
    try:
        # Legacy IPv4 spellings browsers still accept: 127.1, 2130706433, 0x7f.1
        return socket.inet_ntoa(socket.inet_aton(host))
    except (OSError, ValueError):
        pass
    labels = []
    for label in host.split("."):
        if label.isascii():
            if not ASCII_LABEL.fullmatch(label):
                return None
            labels.append(label)
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNAError, UnicodeError):
            return None
    return ".".join(labels)


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
    if not is_slug(slug):
        return f"slug must be {SLUG_RULE}"
    if slug.lower() in RESERVED_SLUGS:
        return f"slug '{slug}' is reserved"
    return None
