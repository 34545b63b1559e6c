"""Fixtures for the script tests: a small snip-shaped database and cleanup of restores."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.scripts.helpers import drop_database_named
from tests.support import servers

# A database shaped like snip's (links, tags, link_tags, click_stats, alembic_version),
# built by hand so the backup tests do not depend on the application's migrations.
# Awkward values on purpose: quotes, backslashes, unicode, NULLs, a big text.
SCHEMA = """
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0001_test_rev');
CREATE TABLE links (
    id bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    target_url text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z',
    expires_at timestamptz,
    clicks bigint NOT NULL DEFAULT 0
);
CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE link_tags (
    link_id bigint REFERENCES links(id) ON DELETE CASCADE,
    tag_id int REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (link_id, tag_id)
);
CREATE TABLE click_stats (link_id bigint REFERENCES links(id), day date, clicks bigint,
                          PRIMARY KEY (link_id, day));
INSERT INTO links (slug, target_url, expires_at, clicks)
SELECT 's' || g, 'https://example.com/' || g || '?q=''"\\x',
       CASE WHEN g % 3 = 0 THEN NULL ELSE '2027-01-01'::timestamptz + g * interval '1 min' END,
       g * 7
FROM generate_series(1, 2000) g;
INSERT INTO links (slug, target_url) VALUES ('ünï', 'https://例え.jp/' || repeat('x', 5000));
INSERT INTO tags (name) SELECT 'tag-' || g FROM generate_series(1, 20) g;
INSERT INTO link_tags SELECT l, 1 + l % 20 FROM generate_series(1, 2000) l;
INSERT INTO click_stats SELECT l, '2026-11-01'::date + d, l * d
FROM generate_series(1, 300) l, generate_series(0, 9) d;
"""


@pytest.fixture
def source_db(postgres_admin_url: str) -> Iterator[str]:
    """A filled snip-shaped database, dropped after the test."""
    url = servers.create_database(postgres_admin_url, prefix="snip_bk_src")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    yield url
    servers.drop_database(postgres_admin_url, url)


@pytest.fixture
def restored_names(postgres_admin_url: str) -> Iterator[list[str]]:
    """Names of databases a test restores into; all dropped afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        drop_database_named(postgres_admin_url, name)
