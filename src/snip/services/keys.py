"""API keys: create (the plain key is returned once), list, revoke.

Only a key's SHA-256 is stored (``snip.auth.hash_key``); see ``snip.auth`` for why
a plain hash is enough for 256-bit random tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import select

from snip.access import can_manage_key, visible_keys
from snip.auth import SCOPES, hash_key
from snip.extensions import db
from snip.models import ApiKey, User
from snip.services.errors import Invalid, NotFound

API_KEY_TOKEN_PREFIX = "snip_"  # every key starts with it: secret scanners can spot leaks
LISTED_PREFIX_LENGTH = 12  # what `keys list` shows to tell keys apart
MAX_NAME_LENGTH = 100


def new_key(name: str, scopes: Collection[str], user: User) -> tuple[ApiKey, str]:
    """An unsaved ApiKey row acting for ``user``, and its plain key.

    ValueError on unknown or no scopes, or an empty or too long name.
    """
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be among {', '.join(SCOPES)} (got {', '.join(sorted(unknown)) or 'none'})"
        )
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a key needs a name of 1 to {MAX_NAME_LENGTH} characters")
    plain = API_KEY_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=plain[:LISTED_PREFIX_LENGTH],
        key_hash=hash_key(plain),
        scopes=" ".join(sorted(set(scopes))),
        user_id=user.id,
        user=user,
    )
    return row, plain


def create_key(*, name: str, scopes: Collection[str], user: User) -> tuple[ApiKey, str]:
    """Create and save a key for ``user``; returns the row and the plain key (shown once)."""
    try:
        row, plain = new_key(name, scopes, user)
    except ValueError as exc:
        raise Invalid("name" if "name" in str(exc) else "scopes", str(exc)) from None
    db.session.add(row)
    db.session.commit()
    return row, plain


def list_keys(actor: User | None = None) -> list[ApiKey]:
    """Every key (for the CLI), or those ``actor`` may manage: their own, an admin's all."""
    stmt = select(ApiKey).order_by(ApiKey.id)
    return list(db.session.scalars(stmt if actor is None else visible_keys(stmt, actor)))


def revoke_key(key_id: int, actor: User | None = None) -> ApiKey:
    """Revoke a key: it stops working at once. NotFound when there is no such key
    (or, with an ``actor``, none they may manage)."""
    key = db.session.get(ApiKey, key_id)
    if key is None or (actor is not None and not can_manage_key(actor, key)):
        raise NotFound(f"no API key with id {key_id}")
    revoke(key)
    db.session.commit()
    return key


def revoke(key: ApiKey) -> None:
    key.revoked_at = datetime.now(UTC)
