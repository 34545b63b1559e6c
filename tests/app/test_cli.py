"""The snip command: API keys, flushing and purging, with clear errors."""

from __future__ import annotations

import shlex
import subprocess

import psycopg
import redis

from snip.cache import redis_key
from tests.support import servers


def snip(env, *args, check=True, input=None):
    result = servers.run_snip_cli(*args, env=env, check=False, input=input)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def create_admin(env, email="admin@example.com", password="correct horse battery"):
    return subprocess.run(
        [str(servers.VENV_BIN / "snip"), "users", "create", "--email", email, "--admin",
         "--password-stdin"],
        input=password + "\n", env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_first_admin_comes_from_the_command_line(sqlite_env):
    env = servers.snip_env(**sqlite_env)
    snip(env, "db", "upgrade")
    created = create_admin(env, "Admin@Example.com")
    assert created.returncode == 0, created.stderr
    assert "created admin admin@example.com" in created.stdout
    assert "/login" in created.stdout
    listing = snip(env, "users", "list").stdout
    assert "admin@example.com\tadmin\tactive" in listing
    again = create_admin(env)
    assert again.returncode == 1 and "already exists" in again.stderr
    short = create_admin(env, "b@example.com", "short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    # Without --password-stdin the user is invited: a one-time link, printed once.
    invited = snip(env, "users", "create", "--email", "member@example.com")
    assert "/accept/" in invited.stdout
    assert "member@example.com\tmember\tinvited" in snip(env, "users", "list").stdout


def test_keys_create_list_revoke(sqlite_env, tmp_path):
    env = servers.snip_env(**sqlite_env)
    snip(env, "db", "upgrade")
    orphan = snip(env, "keys", "create", "--name", "ci-bot", check=False)
    assert orphan.returncode == 1 and "snip users create" in orphan.stderr
    assert create_admin(env).returncode == 0
    created = snip(env, "keys", "create", "--name", "ci-bot", "--scope", "read")
    key = created.stdout.strip()
    assert key.startswith("snip_") and len(key) > 40
    assert "cannot be shown again" in created.stderr
    assert "for admin@example.com" in created.stderr  # the key acts for the first admin
    listing = snip(env, "keys", "list").stdout
    assert "ci-bot" in listing and "read" in listing and key not in listing
    assert "admin@example.com" in listing
    assert "revoked key 1" in snip(env, "keys", "revoke", "1").stdout
    assert "revoked" in snip(env, "keys", "list").stdout
    missing = snip(env, "keys", "revoke", "99", check=False)
    assert missing.returncode == 1 and "no API key with id 99" in missing.stderr
    bad_scope = snip(env, "keys", "create", "--name", "x", "--scope", "admin", check=False)
    assert bad_scope.returncode == 2 and "admin" in bad_scope.stderr


def test_flush_ships_a_dead_workers_click_log_in_embedded_mode(sqlite_env, tmp_path):
    from snip.clicklog import database_directory
    from snip.clicks import encode

    env = servers.snip_env(**sqlite_env, SNIP_CLICK_LOG_DIR=str(tmp_path / "clicks"))
    snip(env, "db", "upgrade")
    import sqlite3

    db_file = sqlite_env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO links (id, slug, url, url_hash, redirect_status, use_count, created_at,"
            " updated_at) VALUES (7, 'cli', 'https://a.example/', 'h', 302, 0,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    folder = database_directory(tmp_path / "clicks", sqlite_env["DATABASE_URL"])
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-1-dead.clicks").write_bytes(
        encode(1.8e9, 7, False, "FR", "", "Mozilla/5.0") * 3
    )
    assert "shipped 3 clicks from the log" in snip(env, "clicks", "flush").stdout
    assert list(folder.iterdir()) == []
    assert "shipped 0 clicks from the log" in snip(env, "clicks", "flush").stdout


def test_flush_reports_a_database_it_cannot_reach(redis_url):
    env = servers.snip_env(
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{servers.free_port()}/x", REDIS_URL=redis_url
    )
    result = snip(env, "clicks", "flush", check=False)
    assert result.returncode == 1
    assert "flush failed" in result.stderr


def test_purge_expired_forgets_only_long_expired_links_and_keeps_their_slugs(pg_env):
    env = servers.snip_env(**pg_env)
    with psycopg.connect(pg_env["DATABASE_URL"], autocommit=True) as conn:
        for slug, expired in [
            ("old", "now() - interval '40 days'"),
            ("recent", "now() - interval '2 days'"),
            ("forever", "NULL"),
        ]:
            conn.execute(
                "INSERT INTO links (slug, url, url_hash, redirect_status, use_count,"
                " created_at, updated_at, expires_at)"
                f" VALUES ('{slug}', 'https://a.example/', 'h', 302, 0, now(), now(), {expired})"
            )
        epoch = conn.execute("SELECT epoch FROM cache_epoch").fetchone()[0]
    cache = redis.Redis.from_url(pg_env["REDIS_URL"])
    cache.set(redis_key(epoch, "old"), "{}")  # what a redirect of the expired link left behind
    assert (
        "would purge 1"
        in snip(env, "links", "purge-expired", "--older-than-days", "30", "--dry-run").stdout
    )
    assert "purged 1" in snip(env, "links", "purge-expired", "--older-than-days", "30").stdout
    with psycopg.connect(pg_env["DATABASE_URL"]) as conn:
        rows = dict(
            conn.execute("SELECT slug, url FROM links WHERE deleted_at IS NOT NULL").fetchall()
        )
        live = {r[0] for r in conn.execute("SELECT slug FROM links WHERE deleted_at IS NULL")}
    assert rows == {"old": ""}  # a tombstone: the target is forgotten, the slug stays taken
    assert live == {"recent", "forever"}
    assert cache.exists(redis_key(epoch, "old")) == 0


def test_the_readme_quick_start_makes_an_admin_who_can_sign_in(sqlite_env, make_app):
    """README: `make run` prints how to make the first admin; that command works as written."""
    from tests.app.webclient import sign_in

    readme = (servers.REPO_ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "snip users create" in line)
    env = servers.snip_env(**sqlite_env)
    snip(env, "db", "upgrade")
    hint = snip(env, "users", "hint").stdout
    assert command.strip() in hint  # what `make run` prints is what the README says
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/snip"
    made = snip(env, *argv[1:], input="a long enough password\n")
    assert "created admin you@example.com" in made.stdout
    assert snip(env, "users", "hint").stdout == ""  # said once, until there is a user
    client = make_app(sqlite_env).test_client()
    assert sign_in(client, "you@example.com", "a long enough password").status_code == 302
