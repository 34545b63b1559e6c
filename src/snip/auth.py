"""Authentication: 'Authorization: Bearer <key>', checked against the stored SHA-256.

Keys are 256-bit random tokens, so a plain SHA-256 (not a slow password hash)
is enough: there is nothing to brute-force. The key is printed once at creation.
Every key belongs to a user and acts for them (``g.actor``): it sees and changes
only what that user may, and stops working when the user is disabled.
"""

from __future__ import annotations

import functools
import hashlib

from flask import g, request
from sqlalchemy import select

from snip.errors import Problem
from snip.extensions import db
from snip.models import ApiKey
from snip.state import state

SCOPES = ("read", "write")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


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
    if key is None or key.revoked_at is not None or not key.user.active:
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
                    g.actor = None
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
            g.actor = key.user
            return view(*args, **kwargs)

        return wrapper

    return decorator


def anonymous_create_allowed() -> bool:
    return state().settings.allow_anonymous_create
