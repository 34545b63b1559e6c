"""Flask extensions, created unbound here and bound to the app in create_app().

Keeping them module-level (the Flask tutorial's habit) lets blueprints import
``db`` or ``limiter`` without importing the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import request
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from snip.api.spec import SnipApi
from snip.net import client_address

# Named constraints make Alembic migrations identical on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = SnipApi()
# Limits are declared per route (writes only): the redirect path stays unlimited.
limiter = Limiter(key_func=client_address, headers_enabled=True, swallow_errors=True)


def limiter_config(redis_url: str | None, database_url: str, instance_path: str) -> dict:
    """Where the write budgets are counted, so that every worker shares them.

    With Redis: in Redis, shared by every replica. Without: in a SQLite file every
    worker on this machine shares (snip.ratelimit_storage), beside the SQLite database.
    When that storage fails (Redis down), each worker falls back to counting in its own
    memory: writes go on, takedowns included, with a budget per worker instead of one
    in total (docs/security.md, "Rate limits").
    """
    import snip.ratelimit_storage  # noqa: F401 - registers the snip+sqlite scheme

    if redis_url:
        uri = redis_url
        options = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
    else:
        database = Path(instance_path, "snip.db")
        if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
            database = Path(instance_path, database_url.removeprefix("sqlite:///"))
        uri, options = f"snip+sqlite:///{database}-ratelimits", {}
    return {
        "RATELIMIT_STORAGE_URI": uri,
        "RATELIMIT_STORAGE_OPTIONS": options,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    }


def _write_budget() -> str:
    from snip.state import state

    return state().settings.rate_limit_writes


def _key_bucket() -> str:
    """The caller's API key (hashed: the key never reaches Redis), else the signed-in
    dashboard user, else its address."""
    from snip.auth import hash_key
    from snip.web.session import current_user

    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if token:
        return "key:" + hash_key(token)[:16]
    user = current_user()
    return f"user:{user.id}" if user is not None else "anonymous:" + client_address()


def _count_refusal(_limit) -> None:
    from snip import metrics

    metrics.RATE_LIMITED.inc()


# One budget per key and one per address, each shared by every write endpoint: a
# shared_limit counts in one bucket per scope, whichever route spends it.
_per_key = limiter.shared_limit(
    _write_budget, scope="writes-per-key", key_func=_key_bucket, on_breach=_count_refusal
)
_per_address = limiter.shared_limit(
    _write_budget, scope="writes-per-address", key_func=client_address, on_breach=_count_refusal
)


def limit_writes(view: Callable) -> Callable:
    """Decorator for every route that changes something (API and web pages alike)."""
    return _per_key(_per_address(view))


@limiter.request_filter
def reads_skip_the_limiter() -> bool:
    # Every limit is on a write: reads, redirects and probes skip the limiter entirely.
    return request.method in {"GET", "HEAD", "OPTIONS"}
