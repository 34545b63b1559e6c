"""Small helpers about the HTTP client: its address and whether it is a bot."""

from __future__ import annotations

import re

from flask import request

# Crawlers, link-preview fetchers and scripted clients: counted apart from humans.
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|headless|"
    r"python-requests|python-urllib|curl/|wget/|httpie|go-http-client|okhttp|java/|libwww",
    re.IGNORECASE,
)


def client_address() -> str:
    """The client's IP (ProxyFix has already applied SNIP_TRUSTED_PROXIES)."""
    return request.remote_addr or "unknown"


def is_bot(user_agent: str | None) -> bool:
    return not user_agent or bool(BOT_PATTERN.search(user_agent))
