"""Fixtures for the application tests.

Most API tests run twice: on the production pair (PostgreSQL + Redis, both real
servers) and on the embedded default (SQLite, in-process cache). Tests that need
several gunicorn workers start snip as a real server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from snip import create_app
from snip.config import load_settings
from snip.extensions import db
from tests.support import servers

TABLES = (
    "link_tags, click_hourly, click_daily, click_segments, links, tags, api_keys, users,"
    " flushed_batches"
)
GENEROUS_LIMIT = "100000 per minute"  # tests that are not about rate limits never hit one


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    """The session database with snip's migrations applied (once)."""
    app = create_app(load_settings({"DATABASE_URL": postgres_url}))
    with app.app_context():
        upgrade()
    return postgres_url


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


@pytest.fixture
def pg_env(migrated_postgres_url: str, redis_url: str) -> dict[str, str]:
    """Environment for snip on PostgreSQL + Redis, both emptied for this test."""
    _truncate(migrated_postgres_url)
    return {
        "DATABASE_URL": migrated_postgres_url,
        "REDIS_URL": redis_url,
        "SNIP_RATE_LIMIT_WRITES": GENEROUS_LIMIT,
    }


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/snip.db",
        "SNIP_RATE_LIMIT_WRITES": GENEROUS_LIMIT,
    }


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[[dict[str, str]], Flask]:
    """Build an app from an environment dict and bring its database to the latest schema."""

    def build(env: dict[str, str]) -> Flask:
        # Each test's click log lives in its own folder, never in the repository.
        env = {"SNIP_CLICK_LOG_DIR": str(tmp_path / "clicks"), **env}
        app = create_app(load_settings(env))
        app.config["TESTING"] = True
        # Tests ship clicks when they choose (ship_clicks), not from a background thread.
        app.extensions["snip"].clicks.on_first_click = None
        with app.app_context():
            if env["DATABASE_URL"].startswith("sqlite"):
                upgrade()
        return app

    return build


@pytest.fixture(params=["postgres+redis", "sqlite"])
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Each test using this runs on both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_env")
    return request.getfixturevalue("pg_env")


@pytest.fixture
def app(make_app, backend_env) -> Iterator[Flask]:
    application = make_app(backend_env)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


TEST_USER = "tester@example.com"


def create_user(app: Flask, email: str = TEST_USER, role: str = "member", password=None) -> int:
    """A user (created once per e-mail) for keys and sign-ins; returns its id."""
    from snip import accounts

    with app.app_context():
        user = accounts.find_user(email) or accounts.create_user(email, role, password)
        db.session.commit()
        return user.id


def create_key(
    app: Flask, scopes: tuple[str, ...] = ("read", "write"), user: str = TEST_USER
) -> str:
    """A key acting for ``user`` (a member, created on first use)."""
    from snip.models import User
    from snip.services.keys import new_key

    user_id = create_user(app, user)
    with app.app_context():
        row, plain = new_key("test", list(scopes), db.session.get(User, user_id))
        db.session.add(row)
        db.session.commit()
    return plain


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    """Headers with a read+write API key."""
    return {"Authorization": f"Bearer {create_key(app)}"}


def ship_clicks(app: Flask) -> int:
    """Ship every click logged so far to the database, as the worker's thread would."""
    return app.extensions["snip"].shipper.ship_once()


def total_clicks(app: Flask) -> int:
    from snip.clicks import total_clicks as total

    with app.app_context(), db.engine.connect() as conn:
        return total(conn)


def shorten(
    client: FlaskClient, auth: dict[str, str], url: str = "https://example.com/page", **fields
):
    return client.post("/api/v1/links", json={"url": url, **fields}, headers=auth)


@pytest.fixture
def pg_server(pg_env: dict[str, str]) -> Iterator[servers.SnipServer]:
    """snip under gunicorn (3 workers) on PostgreSQL + Redis."""
    server = servers.SnipServer(env=servers.snip_env(**pg_env), workers=3).start()
    with servers.running(server):
        yield server
