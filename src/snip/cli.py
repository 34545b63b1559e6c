"""The ``snip`` command: migrations (``snip db ...``, ``snip migrate``), users, API keys,
the click flusher, purging.

Exit codes: 0 success, 1 the operation failed, 2 wrong usage or configuration.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from snip.auth import SCOPES
from snip.config import ConfigError, load_settings
from snip.extensions import db
from snip.services import keys, links
from snip.services.errors import ServiceError
from snip.state import state


@click.group("keys", help="Create, list and revoke API keys.")
def keys_group() -> None:
    pass


@click.group("users", help="Create and list the people who sign in to the dashboard.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True, help="The address the user signs in with.")
@click.option("--admin", is_flag=True, help="An admin sees and manages every link and user.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (first line); without it, a one-time "
    "link to set the password is printed instead.",
)
@with_appcontext
def create_user(email: str, admin: bool, password_stdin: bool) -> None:
    """Create a user, e.g. the first admin:

    \b
    printf '%s\\n' "$PASSWORD" | snip users create --email you@example.com --admin --password-stdin
    """
    from snip import accounts

    role = "admin" if admin else "member"
    try:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            user = accounts.create_user(email, role, password)
            db.session.commit()
            click.echo(f"created {role} {user.email} (id {user.id})")
            click.echo(f"sign in at {_base_url()}/login")
        else:
            invitation = accounts.invite(email, role)
            user = invitation.user
            click.echo(f"created {role} {user.email} (id {user.id})", err=True)
            click.echo("they set their password once, within 7 days, at:", err=True)
            click.echo(f"{_base_url()}/accept/{invitation.token}")
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None


@users_group.command("list")
@with_appcontext
def list_users() -> None:
    """List users (id, e-mail, role, state)."""
    from sqlalchemy import select

    from snip.models import User

    for user in db.session.scalars(select(User).order_by(User.id)):
        state = "disabled" if user.disabled_at else ("active" if user.password_hash else "invited")
        click.echo(f"{user.id}\t{user.email}\t{user.role}\t{state}")


@users_group.command("hint")
@with_appcontext
def first_run_hint() -> None:
    """Say how to create the first admin, when there is no user yet (`make run` asks)."""
    from snip import accounts

    if accounts.count_users() == 0:
        click.echo(
            "\nNo user yet. Create the first admin in a second terminal:\n"
            "    .venv/bin/snip users create --email you@example.com --admin --password-stdin\n"
            f"then open {_base_url()} and sign in.\n"
        )


@users_group.command("reset")
@click.option("--email", required=True)
@with_appcontext
def reset_user(email: str) -> None:
    """Sign a user out everywhere and print a one-time link to set a new password."""
    from snip import accounts

    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"no user with the e-mail {accounts.normalize_email(email)}")
    invitation = accounts.reset(user)
    click.echo(f"{_base_url()}/accept/{invitation.token}")


def _base_url() -> str:
    return state().settings.base_url


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option(
    "--user",
    "email",
    help="E-mail of the user the key acts for (default: the first admin).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    default=SCOPES,
    show_default=True,
    help="Repeat for several scopes.",
)
@with_appcontext
def create_key(name: str, scopes: tuple[str, ...], email: str | None) -> None:
    """Create a key and print it ONCE; only its SHA-256 is stored."""
    from snip import accounts

    owner = accounts.find_user(email) if email else accounts.first_admin()
    if owner is None:
        raise click.ClickException(
            f"no user with the e-mail {email}"
            if email
            else "a key acts for a user and there is none yet: create the first admin with "
            "`snip users create --email E --admin --password-stdin`"
        )
    row, plain = keys.create_key(name=name, scopes=scopes, user=owner)
    click.echo(
        f"created key {row.id} ({row.name}, scopes: {row.scopes}) for {owner.email}", err=True
    )
    click.echo("store it now; it cannot be shown again:", err=True)
    click.echo(plain)


@keys_group.command("list")
@with_appcontext
def list_keys() -> None:
    """List keys (id, prefix, name, scopes, state); never the keys themselves."""
    for key in keys.list_keys():
        status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.prefix}…\t{key.name}\t{key.scopes}\t{status}\t{key.user.email}")


@keys_group.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
def revoke_key(key_id: int) -> None:
    """Revoke a key by its id (see `snip keys list`); it stops working at once."""
    try:
        key = keys.revoke_key(key_id)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"revoked key {key_id} ({key.name})")


@click.group("clicks", help="Ship click logs to the database; prune old hourly counts.")
def clicks_group() -> None:
    pass


def flush_step() -> str:
    """One pass: orphaned click logs here, an old release's Redis counters, the rollup."""
    from snip.clicks import prune_hourly, prune_ledger
    from snip.legacy_clicks import ClickFlusher

    snip = state()
    shipped = snip.shipper.ship_once()
    legacy = 0
    if snip.redis.client is not None:
        legacy = ClickFlusher(snip.redis.client, lambda: db.session).flush_once()
    with db.engine.begin() as conn:
        pruned = prune_hourly(conn, snip.settings.stats_hourly_retention_days)
        prune_ledger(conn)
    return (
        f"shipped {shipped} clicks from the log, {legacy} from Redis; pruned {pruned} hourly rows"
    )


@clicks_group.command("flush")
@click.option("--loop", is_flag=True, help="Keep flushing until SIGTERM.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between flushes with --loop.",
)
@with_appcontext
def flush_clicks(loop: bool, interval: float) -> None:
    """Ship the click logs no running worker owns (SNIP_CLICK_LOG_DIR on this host),
    drain click counters an older release left in Redis, and delete hourly counts older
    than SNIP_STATS_HOURLY_RETENTION_DAYS (daily counts stay). Once (for a CronJob) or in
    a loop (for a Deployment or a sidecar). Safe to kill at any moment."""
    stopping = False

    def stop(*_):  # finish the batch in hand, then exit
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            click.echo(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {flush_step()}")
        except Exception as exc:
            click.echo(f"flush failed: {exc}", err=True)
            if not loop:
                sys.exit(1)
        if not loop or stopping:
            return
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))


@click.group("links", help="Maintenance of links.")
def links_group() -> None:
    pass


@links_group.command("purge-expired")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    required=True,
    help="Purge links that expired more than this many days ago.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be purged.")
@with_appcontext
def purge_expired(older_than_days: int, dry_run: bool) -> None:
    """Forget the target, tags and statistics of long-expired links.

    The row stays as a tombstone, so the slug is never handed to someone else
    (it answers 410 Gone, like a deleted link).
    """
    result = links.purge_expired(older_than=timedelta(days=older_than_days), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} {result.count} links expired before {result.cutoff:%Y-%m-%d}")


def register_cli(app: Flask) -> None:
    from snip.migrate import migrate_command  # `snip migrate`: the pods' init step

    app.cli.add_command(migrate_command)
    app.cli.add_command(users_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(clicks_group)
    app.cli.add_command(links_group)


def _create_app() -> Flask:
    from snip import create_app

    return create_app()


def main() -> None:
    """Entry point of the ``snip`` console script."""
    cli = FlaskGroup(
        create_app=_create_app,
        load_dotenv=False,
        add_version_option=False,
        help="snip: operate the URL shortener (migrations, API keys, clicks).",
    )
    try:
        cli.main(prog_name="snip")
    except ConfigError as exc:
        click.echo(f"snip: configuration error: {exc}", err=True)
        sys.exit(2)
    except OperationalError as exc:  # one line that says what to do, not a traceback
        click.echo(f"snip: {database_problem(exc)}", err=True)
        sys.exit(1)


def database_problem(exc: OperationalError) -> str:
    """What is wrong with the database connection, and the fix, in one line."""
    reason = str(exc.orig or exc).strip()
    try:
        url = make_url(load_settings().database_url)
    except (ConfigError, ArgumentError):
        return f"the database refused the connection: {reason.splitlines()[0]}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    missing = re.search(r'database "([^"]+)" does not exist', reason)
    if missing:
        return (
            f"the database '{missing.group(1)}' does not exist on {where}; create it "
            f"(createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"-U {url.username or 'postgres'} {missing.group(1)}) or fix DATABASE_URL"
        )
    if "Connection refused" in reason or "Is the server running" in reason:
        return f"nothing answers at {where} (DATABASE_URL): is PostgreSQL running there?"
    last = [line.strip() for line in reason.splitlines() if line.strip()][-1:]
    return f"cannot use the database at {where} (DATABASE_URL): {' '.join(last)}"
