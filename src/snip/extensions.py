"""Flask extensions, created unbound here and bound to the app in create_app().

Keeping them module-level (the Flask tutorial's habit) lets blueprints import
``db`` or ``limiter`` without importing the app.
"""

from __future__ import annotations

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


@limiter.request_filter
def reads_skip_the_limiter() -> bool:
    # Every limit is on a write: reads, redirects and probes skip the limiter entirely.
    return request.method in {"GET", "HEAD", "OPTIONS"}
