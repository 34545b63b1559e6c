"""API keys: create (the plain key is returned once), list, revoke.

Only a key's SHA-256 is stored (``snip.auth.hash_key``); see ``snip.auth`` for why
a plain hash is enough for 256-bit random tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import select

from snip.auth import SCOPES, hash_key
from snip.extensions import db
from snip.models import ApiKey
from snip.services.errors import Invalid, NotFound

API_KEY_TOKEN_PREFIX = "snip_"  # every key starts with it: secret scanners can spot leaks
LISTED_PREFIX_LENGTH = 12  # what `keys list` shows to tell keys apart


def new_key(name: str, scopes: Collection[str]) -> tuple[ApiKey, str]:
    """An unsaved ApiKey row and its plain key. ValueError on unknown or no scopes."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be among {', '.join(SCOPES)} (got {', '.join(sorted(unknown)) or 'none'})"
        )
    plain = API_KEY_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=plain[:LISTED_PREFIX_LENGTH],
        key_hash=hash_key(plain),
        scopes=" ".join(sorted(set(scopes))),
    )
    return row, plain


def create_key(*, name: str, scopes: Collection[str]) -> tuple[ApiKey, str]:
    """Create and save a key; returns the row and the plain key (shown once, never stored)."""
    try:
        row, plain = new_key(name, scopes)
    except ValueError as exc:
        raise Invalid("scopes", str(exc)) from None
    db.session.add(row)
    db.session.commit()
    return row, plain


def list_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(key_id: int) -> ApiKey:
    """Revoke a key: it stops working at once. NotFound when there is no such key."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    revoke(key)
    db.session.commit()
    return key


def revoke(key: ApiKey) -> None:
    key.revoked_at = datetime.now(UTC)
