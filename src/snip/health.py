"""Liveness and readiness.

/healthz answers from the process alone: a slow or absent database never gets
a pod killed.

/readyz answers "may this pod take traffic?":

- 503 until this process has seen the database schema at the Alembic revision
  its code expects (or at a revision it does not know, which is a newer release's
  under expand/contract, the state right after a rollback). An empty or older
  schema is never Ready, so a pod cannot serve before the migration ran.
- Once the schema was seen, a database outage makes the pod "degraded" (200),
  not down: redirects keep being served from the Redis and in-process caches,
  writes and cache misses answer 503 themselves, and the pod recovers without a
  restart. Taking every pod out of the Service would turn that partial outage
  into a total one (the ingress would answer 503 for every redirect).
- Redis down is "degraded" (200): snip falls back to the database.

Every database check runs on its own connection with a 1 s statement timeout
and a 1 s deadline for the whole check: the driver's connect timeout cannot be
set below 2 s (libpq and psycopg raise smaller values to 2), so the request
waits at most CHECK_DEADLINE_SECONDS and a slower attempt finishes (or fails)
in the background, one at a time per process. Internal error text (addresses,
driver messages) goes to the log, never into the public answer.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from snip.extensions import db
from snip.state import state

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CHECK_DEADLINE_SECONDS = 1.0
STATEMENT_TIMEOUT_MS = 1000
CONNECT_TIMEOUT_SECONDS = 2  # the driver's minimum; the deadline above bounds the wait


@cache
def code_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of the migrations shipped with this code."""
    from snip import MIGRATIONS_DIR

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


@dataclass(frozen=True)
class SchemaStatus:
    """What the database said: ok, ahead, not_migrated, behind or unavailable."""

    state: str
    current: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.state in {"ok", "ahead"}


def health_engine(url: URL) -> Engine:
    """A separate, unpooled engine with short timeouts, used only by the checks."""
    if url.get_backend_name() == "postgresql":
        args = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "application_name": "snip-health",
        }
    else:  # SQLite: a local file, only the lock wait needs bounding
        args = {"timeout": CHECK_DEADLINE_SECONDS}
    return create_engine(url, poolclass=NullPool, connect_args=args)


class DatabaseCheck:
    """The schema check of one process, bounded by a deadline, one attempt at a time."""

    def __init__(self, url: URL) -> None:
        self.engine = health_engine(url)
        self._seen = False
        # "Seen" is the pod's memory, not one worker's: the kubelet's probes land on
        # any gunicorn worker, and a worker that never ran the check must not answer
        # 503 during an outage. gunicorn's workers share this directory, which is new
        # for every start of the server (src/snip/gunicorn_conf.py).
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self._marker = Path(shared) / "snip-schema-seen" if shared else None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future[SchemaStatus] | None = None

    def _read(self) -> SchemaStatus:
        heads, known = code_revisions()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
        except Exception:  # any failure means "cannot use it now"
            log.warning("readiness: database check failed", exc_info=True)
            return SchemaStatus("unavailable")
        if set(current) == heads:
            return SchemaStatus("ok", current)
        if not current:
            return SchemaStatus("not_migrated", current)
        if set(current) <= known:
            return SchemaStatus("behind", current)
        return SchemaStatus("ahead", current)  # a newer release migrated (expand/contract)

    def status(self) -> SchemaStatus:
        with self._lock:
            if self._executor is None:  # created lazily: gunicorn forks after import
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="snip-health")
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._read)
            running = self._running
        try:
            result = running.result(timeout=CHECK_DEADLINE_SECONDS)
        except FutureTimeout:
            log.warning("readiness: database check took over %.1f s", CHECK_DEADLINE_SECONDS)
            result = SchemaStatus("unavailable")
        if result.usable and not self.schema_seen:
            self._seen = True
            if self._marker is not None:
                self._marker.touch()
        return result

    @property
    def schema_seen(self) -> bool:
        """True once this pod (any worker) saw a schema its code runs on."""
        return self._seen or (self._marker is not None and self._marker.exists())


def database_check(app: Flask) -> DatabaseCheck:
    snip = state(app)
    if snip.database_check is None:
        with app.app_context():
            url = db.engine.url  # as Flask-SQLAlchemy resolved it (SQLite paths)
        snip.database_check = DatabaseCheck(url)
    return snip.database_check


def database_status() -> str:
    """'ok' when the database answers with a schema this code runs on (metrics)."""
    return "ok" if database_check(current_app).status().usable else "down"


def describe(status: SchemaStatus) -> str:
    heads, _ = code_revisions()
    expected = ",".join(sorted(heads))
    if status.state == "not_migrated":
        return f"schema not migrated (expects {expected})"
    if status.state == "behind":
        return f"schema at {','.join(status.current)}, expects {expected}: migration pending"
    return {"ok": "ok", "ahead": "ok (newer schema)", "unavailable": "unavailable"}[status.state]


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    check = database_check(current_app)
    schema = check.status()
    redis_status = state().redis.ping()
    if redis_status.startswith("error"):
        log.warning("readiness: redis %s", redis_status)
        redis_status = "unavailable"
    checks = {"database": describe(schema), "redis": redis_status}
    if schema.state in {"not_migrated", "behind"} or not check.schema_seen:
        status, code = "down", 503
    elif schema.state == "unavailable" or redis_status not in {"ok", "disabled"}:
        status, code = "degraded", 200  # cached redirects keep flowing; see the docstring
    else:
        status, code = "ok", 200
    return jsonify(status=status, checks=checks, schema=",".join(schema.current) or None), code
