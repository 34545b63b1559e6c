"""Migrations run up and down on PostgreSQL and SQLite, and match the models."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy

from tests.support import servers


@pytest.fixture(params=["postgres", "sqlite"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/m.db"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    url = servers.create_database(admin, prefix="snip_migrations")
    yield url
    servers.drop_database(admin, url)


def snip(env, *args):
    result = servers.run_snip_cli(*args, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_upgrade_downgrade_upgrade(empty_database):
    env = servers.snip_env(DATABASE_URL=empty_database)
    snip(env, "db", "upgrade")
    assert "(head)" in snip(env, "db", "current")
    # the models and the migrations describe the same schema
    assert "No new upgrade operations detected" in snip(env, "db", "check")
    snip(env, "db", "downgrade", "base")
    assert "(head)" not in snip(env, "db", "current")
    snip(env, "db", "upgrade")
    assert "(head)" in snip(env, "db", "current")


def test_links_and_keys_made_before_accounts_get_an_owner(empty_database):
    """Upgrading a database of the key-only era keeps every link and key usable."""
    env = servers.snip_env(DATABASE_URL=empty_database)
    snip(env, "db", "upgrade", "0001_initial")
    engine = sqlalchemy.create_engine(
        empty_database.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at)"
                " VALUES ('old', 'snip_abc', 'h1', 'read write', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO links (slug, url, url_hash, redirect_status, use_count,"
                " created_at, updated_at, created_by_key_id)"
                " VALUES ('old-link', 'https://a.example/', 'h', 302, 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
            )
        )
    snip(env, "db", "upgrade")
    with engine.begin() as conn:
        owner = conn.execute(sqlalchemy.text("SELECT id, role, password_hash FROM users")).one()
        assert owner.role == "admin" and owner.password_hash is None  # nobody can sign in as it
        assert conn.execute(sqlalchemy.text("SELECT user_id FROM api_keys")).scalar() == owner.id
        assert conn.execute(sqlalchemy.text("SELECT owner_id FROM links")).scalar() == owner.id
    assert "legacy-owner@snip.invalid\tadmin" in snip(env, "users", "list")


def test_clicks_v2_keeps_the_old_click_counts_both_ways(empty_database):
    """click_stats rows become click_daily rows on upgrade, and come back on downgrade."""
    env = servers.snip_env(DATABASE_URL=empty_database)
    snip(env, "db", "upgrade", "0003_users_owners")
    engine = sqlalchemy.create_engine(
        empty_database.replace("postgresql://", "postgresql+psycopg://")
    )
    old = {("2026-11-01", False, "", 5), ("2026-11-01", False, "news.example", 2),
           ("2026-11-02", True, "", 3)}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO links (id, slug, url, url_hash, redirect_status, use_count,"
                " created_at, updated_at) VALUES (1, 'old', 'https://a.example/', 'h', 302, 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for day, bot, host, n in old:
            conn.execute(
                sqlalchemy.text("INSERT INTO click_stats VALUES (1, :day, :bot, :host, :n)"),
                {"day": day, "bot": bot, "host": host, "n": n},
            )
    snip(env, "db", "upgrade")
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT dimension, value, SUM(clicks) FROM click_daily GROUP BY dimension, value"
            )
        ).all()
    assert {(d, v, int(n)) for d, v, n in rows} == {
        ("all", "", 10), ("referrer", "", 8), ("referrer", "news.example", 2),
        ("country", "", 10), ("browser", "", 10), ("os", "", 10), ("device", "", 10),
    }  # fmt: skip
    snip(env, "db", "downgrade", "0003_users_owners")
    with engine.connect() as conn:
        back = conn.execute(
            sqlalchemy.text("SELECT day, is_bot, referrer_host, clicks FROM click_stats")
        )
        assert {(str(d), bool(b), h, int(n)) for d, b, h, n in back} == old
    engine.dispose()


def test_the_database_enforces_unique_slugs(postgres_admin_url):
    url = servers.create_database(postgres_admin_url, prefix="snip_unique")
    try:
        snip(servers.snip_env(DATABASE_URL=url), "db", "upgrade")
        with psycopg.connect(url) as conn:
            insert = (
                "INSERT INTO links (slug, url, url_hash, redirect_status, use_count,"
                " created_at, updated_at)"
                " VALUES ('dup', 'https://a.example/', 'h', 302, 0, now(), now())"
            )
            conn.execute(insert)
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(insert)
    finally:
        servers.drop_database(postgres_admin_url, url)
