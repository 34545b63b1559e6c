"""Users: passwords (argon2), sign-in checks, invites, resets, disabling.

The dashboard and the ``snip users`` command both come here, so the rules live
in one place. Invite and reset links carry a random token; only its SHA-256 is
stored (like API keys), it works once, and it expires.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from snip.extensions import db
from snip.models import ROLES, User, as_utc

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 would hash a megabyte; nobody types one
TOKEN_LIFETIME = timedelta(days=7)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so both cases cost the same time
    and a stopwatch cannot tell which accounts exist. Made on first use: every
    process that never signs anyone in (flusher, CLI) is spared the hashing."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about users that cannot be done; the message says why."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    email = normalize_email(email)
    if len(email) > 254 or not EMAIL.match(email):
        raise AccountError("enter an e-mail address like name@example.com")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def authenticate(email: str, password: str) -> User | None:
    """The user when e-mail and password match an enabled account, else None.

    Every failure looks the same to the caller (no "unknown e-mail" versus
    "wrong password"), and takes the same argon2 time.
    """
    user = find_user(email) if len(password) <= MAX_PASSWORD_LENGTH else None
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    ok: bool
    try:
        ok = _hasher.verify(stored, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.password_hash is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def create_user(email: str, role: str, password: str | None = None) -> User:
    """Create a user (with a password, or without one until an invite is accepted)."""
    email = check_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if find_user(email) is not None:
        raise AccountError(f"a user with the e-mail {email} already exists")
    user = User(email=email, role=role, session_version=1)
    if password is not None:
        user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    """A new one-time token for an invite or reset; an older one stops working."""
    token = secrets.token_urlsafe(32)
    user.token_hash = _hash_token(token)
    user.token_expires_at = datetime.now(UTC) + TOKEN_LIFETIME
    return token


@dataclass
class Invitation:
    user: User
    token: str


def invite(email: str, role: str) -> Invitation:
    user = create_user(email, role)
    token = issue_token(user)
    db.session.commit()
    return Invitation(user, token)


def reset(user: User) -> Invitation:
    """Forget the password, sign the user out everywhere, and issue a reset token."""
    user.password_hash = None
    user.session_version += 1
    token = issue_token(user)
    db.session.commit()
    return Invitation(user, token)


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    user = db.session.scalar(select(User).where(User.token_hash == _hash_token(token)))
    if user is None or not user.active:
        return None
    expires = as_utc(user.token_expires_at)
    if expires is None or expires <= datetime.now(UTC):
        return None
    return user


def set_password_with_token(token: str, password: str) -> User:
    user = user_for_token(token)
    if user is None:
        raise AccountError("this link is not valid any more; ask an admin for a new one")
    user.password_hash = hash_password(password)
    user.token_hash = None
    user.token_expires_at = None
    user.session_version += 1
    db.session.commit()
    return user


def change_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1
    db.session.commit()


def set_disabled(user: User, disabled: bool, *, by: User) -> None:
    """Disable (signs out everywhere; keys stop working) or enable a user."""
    if disabled and user.id == by.id:
        raise AccountError("you cannot disable yourself")
    if disabled and user.is_admin and _other_active_admins(user) == 0:
        raise AccountError("the last active admin cannot be disabled")
    if disabled and user.disabled_at is None:
        user.disabled_at = datetime.now(UTC)
        user.session_version += 1
    elif not disabled:
        user.disabled_at = None
    db.session.commit()


def _other_active_admins(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.disabled_at.is_(None), User.id != user.id)
        )
        or 0
    )


def first_admin() -> User | None:
    return db.session.scalar(
        select(User)
        .where(User.role == "admin", User.disabled_at.is_(None))
        .order_by(User.id)
        .limit(1)
    )
