"""API keys: 'Authorization: Bearer <key>', stored only as a SHA-256 hash.

Keys are 256-bit random tokens, so a plain SHA-256 (not a slow password hash)
is enough: there is nothing to brute-force. The key is printed once at creation.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import UTC, datetime

from flask import current_app, g, request
from sqlalchemy import select

from snip.errors import Problem
from snip.extensions import db
from snip.models import ApiKey

SCOPES = ("read", "write")
KEY_PREFIX = "snip_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create (unsaved) an ApiKey row and return it with the plain key."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be among {', '.join(SCOPES)} (got {', '.join(sorted(unknown)) or 'none'})"
        )
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, prefix=plain[:12], key_hash=hash_key(plain), scopes=" ".join(sorted(set(scopes)))
    )
    return row, plain


def _key_from_request() -> ApiKey | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "Authorization must be 'Bearer <api key>'",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="snip"'},
        )
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token.strip())))
    if key is None or key.revoked_at is not None:
        raise Problem(
            401,
            "API key is unknown or revoked",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="snip", error="invalid_token"'},
        )
    return key


def require(scope: str, *, anonymous_allowed=lambda: False):
    """Decorator: the request must carry a live key with ``scope``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = _key_from_request()
            if key is None:
                if anonymous_allowed():
                    g.api_key = None
                    return view(*args, **kwargs)
                raise Problem(
                    401,
                    "an API key is required: send 'Authorization: Bearer <key>'",
                    kind="unauthorized",
                    headers={"WWW-Authenticate": 'Bearer realm="snip"'},
                )
            if scope not in key.scope_set:
                raise Problem(403, f"this API key lacks the '{scope}' scope", kind="forbidden")
            g.api_key = key
            return view(*args, **kwargs)

        return wrapper

    return decorator


def anonymous_create_allowed() -> bool:
    return current_app.extensions["snip"].settings.allow_anonymous_create


def revoke(key: ApiKey) -> None:
    key.revoked_at = datetime.now(UTC)
