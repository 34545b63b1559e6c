"""The Runbook's backup and restore procedures, followed by hand on a machine with PostgreSQL.

The commands are read from Runbook.md itself (the "Backups" and "Restore and disaster
recovery" sections), so editing them there without keeping them working fails this test.
Proves: `make backup` writes a verified backup, `make restore` restores it into a NEW
database with the same data and reports the time it took.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import psycopg

from tests.scripts.helpers import drop_database_named, table_fingerprints, url_for
from tests.support import servers
from tests.support.servers import REPO_ROOT


def runbook_command(section: str, pattern: str) -> list[str]:
    text = (REPO_ROOT / "Runbook.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^({pattern}[^\n#]*)", body, flags=re.M)
    assert match, f"Runbook section {section!r} has no command matching {pattern!r}"
    return shlex.split(match.group(1))


def test_backup_and_restore_by_the_runbook(postgres_admin_url, tmp_path):
    source = servers.create_database(postgres_admin_url, prefix="snip_runbook")
    target = "snip_runbook_restored_" + os.urandom(4).hex()
    try:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
                "INSERT INTO alembic_version VALUES ('runbook');"
                "CREATE TABLE links (id serial PRIMARY KEY, slug text UNIQUE, url text);"
                "INSERT INTO links (slug, url) SELECT 'r' || g, 'https://example.com/' || g "
                "FROM generate_series(1, 500) g"
            )
        env = {**os.environ, "DATABASE_URL": source, "BACKUP_DIR": str(tmp_path)}

        backup = runbook_command("Backups", r"make backup")
        done = subprocess.run(backup, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert list(tmp_path.glob("snip-*.dump")), "make backup wrote no backup"

        restore = runbook_command("Restore and disaster recovery", r"make restore TARGET_DB=")
        # The documented name, made unique so parallel runs never collide.
        restore = [f"TARGET_DB={target}" if a.startswith("TARGET_DB=") else a for a in restore]
        env["DATABASE_URL"] = postgres_admin_url  # "only the server is used"
        done = subprocess.run(restore, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "restore completed in" in done.stderr
        assert re.search(rf"restored_database={target} elapsed_seconds=\d", done.stdout)
        assert table_fingerprints(url_for(postgres_admin_url, target)) == table_fingerprints(source)
    finally:
        drop_database_named(postgres_admin_url, target)
        servers.drop_database(postgres_admin_url, source)
