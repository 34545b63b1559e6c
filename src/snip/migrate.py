"""`snip migrate`: bring the schema to this release, safely from many pods at once.

Kubernetes runs it as the `migrate` init container of every pod running the
snip image (k8s/core/flask-api.yaml, the click flusher), so the same step works
on the first install, on every release, on scale-out and under GitOps (no
immutable Job to delete and re-create):

1. wait for the database (first install: PostgreSQL may still be starting);
2. take a PostgreSQL advisory lock, so one pod migrates and the others wait,
   then find nothing left to do;
3. a database at a revision this code does not know belongs to a newer release
   (the state after a rollback): accepted, since migrations are expand/contract
   and the previous release runs on the newer schema;
4. otherwise `alembic upgrade head`.

Exit codes: 0 the schema is usable by this release, 1 the database never
answered or the migration failed.
"""

from __future__ import annotations

import sys
import time

import click
from alembic.runtime.migration import MigrationContext
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from snip.extensions import db
from snip.health import code_revisions

# pg_advisory_lock key: "snip" in ASCII. Any other user of the database picking the
# same number would only make a migration wait.
LOCK_KEY = 0x736E6970


def connect(wait: float) -> Connection:
    deadline = time.monotonic() + wait
    while True:
        try:
            return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                click.echo(f"snip migrate: the database did not answer in {wait:.0f} s", err=True)
                raise SystemExit(1) from exc
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            click.echo(f"snip migrate: waiting for the database ({reason})", err=True)
            time.sleep(2)


def lock(conn: Connection, wait: float) -> None:
    """Serialize migrators across pods (PostgreSQL only; SQLite is one host's file)."""
    if conn.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + wait
    while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({LOCK_KEY})").scalar():
        if time.monotonic() >= deadline:
            click.echo(f"snip migrate: another migration held the lock for {wait:.0f} s", err=True)
            raise SystemExit(1)
        click.echo("snip migrate: another pod is migrating; waiting", err=True)
        time.sleep(1)


@click.command("migrate")
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the database and for another pod's migration.",
)
@with_appcontext
def migrate_command(wait: float) -> None:
    """Wait for the database, then migrate it to this release under an advisory lock."""
    heads, known = code_revisions()
    with connect(wait) as conn:
        lock(conn, wait)  # released when the connection closes
        current = set(MigrationContext.configure(conn).get_current_heads())
        if current and not current <= known:
            click.echo(
                f"snip migrate: the database is at {','.join(sorted(current))}, newer than this "
                f"release ({','.join(sorted(heads))}); running on it (expand/contract)"
            )
            return
        if current == heads:
            click.echo(f"snip migrate: already at {','.join(sorted(heads))}")
            return
        upgrade()
        click.echo(f"snip migrate: migrated to {','.join(sorted(heads))}")
    sys.stdout.flush()
