"""snip: a self-hosted URL shortener built to operate.

``create_app()`` builds the Flask application from environment variables
(see docs/interfaces.md): SQLite and in-process state by default, PostgreSQL and
Redis when DATABASE_URL and REDIS_URL say so.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from snip.config import Settings, load_dotenv_file, load_settings

__version__ = "0.1.0"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        load_dotenv_file()
        settings = load_settings()
    # instance/ under the working directory holds the embedded SQLite database.
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
    configure(app, settings)
    register_extensions(app, settings)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


# A database that stops answering (blackholed, not refusing) would otherwise hold a
# worker for psycopg's default of about two minutes before the 503; 2 s is the
# driver's minimum and keeps a write's failure as quick as the health checks'.
DATABASE_CONNECT_TIMEOUT_SECONDS = 2


def engine_options(database_url: str) -> dict:
    """SQLAlchemy engine options: a bounded connect for PostgreSQL (SQLite has none)."""
    options: dict = {"pool_pre_ping": True}
    if database_url.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT_SECONDS}
    return options


def configure(app: Flask, settings: Settings) -> None:
    from snip.extensions import limiter_config
    from snip.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.production)
    if settings.database_url.startswith("sqlite"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        **limiter_config(settings.redis_url, settings.database_url, app.instance_path),
        API_TITLE="snip",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/static/swagger-ui/",
        API_SPEC_OPTIONS={
            "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    from snip import fastpath

    fastpath.install(app)  # inside ProxyFix, so it sees the real client address
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Several gunicorn workers share the SQLite file: WAL lets readers run while
    # one writes, and a busy timeout waits for the lock instead of failing.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def register_extensions(app: Flask, settings: Settings) -> None:
    from snip.analytics import CountryLookup
    from snip.cache import LinkCache, read_epoch
    from snip.clicklog import ClickLog, database_directory
    from snip.clicks import ClickRecorder, ClickShipper
    from snip.extensions import api, db, limiter, migrate
    from snip.redis_client import RedisGuard
    from snip.state import SnipState, init_state

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    limiter.init_app(app)
    api.init_app(app)
    guard = RedisGuard(settings.redis_url)
    click_log = ClickLog(database_directory(settings.click_log_dir, settings.database_url))

    def engine():
        with app.app_context():
            return db.engine

    def epoch_in_app_context():
        with app.app_context():
            return read_epoch()

    recorder = ClickRecorder(click_log, CountryLookup(settings.geoip_mmdb))
    shipper = ClickShipper(click_log, engine)
    # Under gunicorn the worker hook starts the shipper at boot (so a successor adopts
    # a dead worker's log at once); elsewhere the first click starts it.
    recorder.on_first_click = shipper.start
    init_state(
        app,
        SnipState(
            settings=settings,
            redis=guard,
            cache=LinkCache(
                guard,
                ttl=settings.cache_ttl_seconds,
                local_ttl=settings.local_cache_ttl_seconds,
                negative_ttl=settings.negative_cache_ttl_seconds,
                # The fast path (fastpath.py) reads the cache outside any app context.
                epoch_reader=epoch_in_app_context,
            ),
            clicks=recorder,
            shipper=shipper,
        ),
    )


def register_blueprints(app: Flask) -> None:
    from snip import health, metrics, redirect, web
    from snip.api.body import register_body_checks
    from snip.api.docs import bp as api_docs
    from snip.api.links import blp as links_api
    from snip.extensions import api
    from snip.headers import register_security_headers
    from snip.logs import register_request_id

    register_request_id(app)
    register_body_checks(app)
    register_security_headers(app)
    metrics.register_metrics(app)
    app.register_blueprint(health.bp)
    web.register(app)
    app.register_blueprint(api_docs)
    api.register_blueprint(links_api)
    # Last, so every fixed path above wins over the catch-all /<slug>.
    app.register_blueprint(redirect.bp)


def register_error_handlers(app: Flask) -> None:
    from snip.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from snip.cli import register_cli

    register_cli(app)
