"""Measure db-backup.sh and dr-restore.sh on a database of N links (default 1,000,000).

Not a test (pytest does not collect it): run by hand to refresh the numbers in
docs/backup-and-restore.md and the Runbook's RTO statement:

    .venv/bin/python -m tests.scripts.measure_backup_restore [--links 1000000] [--runs 3]

It creates throwaway databases on the PostgreSQL server of SNIP_TEST_POSTGRES_ADMIN_URL
(default: the machine's, postgresql://postgres@127.0.0.1:5432/postgres), migrates one with
snip's own migrations (`snip db upgrade`), fills `links` with generate_series, backs it
up and restores it with the real scripts, and drops every database it made, also on
failure.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from tests.scripts.helpers import drop_database_named, explain, run_script
from tests.support import servers

FILL = """
INSERT INTO links (slug, url, url_hash, redirect_status, expires_at, use_count,
                   created_at, updated_at)
SELECT substr(md5(g::text), 1, 7) || to_hex(g),
       'https://example.com/articles/' || g || '?utm_source=snip&ref=' || md5(g::text),
       encode(sha256(('https://example.com/articles/' || g)::bytea), 'hex'),
       302,
       CASE WHEN g %% 10 = 0 THEN now() + interval '30 days' END,
       g %% 1000,
       now() - g * interval '1 second',
       now() - g * interval '1 second'
FROM generate_series(1, %(links)s) g
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    admin = servers.SHARED_POSTGRES_ADMIN_URL
    source = servers.create_database(admin, prefix="snip_measure")
    restored: list[str] = []
    try:
        env = servers.snip_env(DATABASE_URL=source)
        servers.run_snip_cli("db", "upgrade", env=env)
        started = time.monotonic()
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute(FILL, {"links": args.links})
            conn.execute("VACUUM ANALYZE")
            db_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        fill_seconds = time.monotonic() - started

        backups, restores = [], []
        with tempfile.TemporaryDirectory() as directory:
            for run in range(args.runs):
                started = time.monotonic()
                result = run_script(
                    "backup/db-backup.sh",
                    "--dir",
                    directory,
                    "--keep",
                    "1",
                    env={"DATABASE_URL": source},
                    timeout=3600,
                )
                backups.append(time.monotonic() - started)
                assert result.returncode == 0, explain(result)
                dump = Path(result.stdout.strip())
                meta = json.loads(Path(f"{dump}.json").read_text())

                target = f"snip_measure_restored_{run}"
                restored.append(target)
                started = time.monotonic()
                result = run_script(
                    "backup/dr-restore.sh",
                    "--dir",
                    directory,
                    "--target-db",
                    target,
                    env={"DATABASE_URL": admin},
                    timeout=3600,
                )
                restores.append(time.monotonic() - started)
                assert result.returncode == 0, explain(result)
                reported = float(re.search(r"elapsed_seconds=([\d.]+)", result.stdout).group(1))
                print(
                    f"run {run + 1}: backup {backups[-1]:.1f} s, restore {restores[-1]:.1f} s "
                    f"(script reports {reported} s)",
                    flush=True,
                )
                drop_database_named(admin, target)

        print(
            json.dumps(
                {
                    "links": args.links,
                    "fill_seconds": round(fill_seconds, 1),
                    "database_size_bytes": db_size,
                    "dump_size_bytes": meta["size_bytes"],
                    "row_counts": meta["row_counts"],
                    "schema_revision": meta["schema_revision"],
                    "backup_seconds": [round(s, 1) for s in backups],
                    "restore_seconds": [round(s, 1) for s in restores],
                    "backup_median": round(statistics.median(backups), 1),
                    "restore_median": round(statistics.median(restores), 1),
                },
                indent=2,
            )
        )
    finally:
        for name in restored:
            drop_database_named(admin, name)
        servers.drop_database(admin, source)
        print(f"dropped {source.rsplit('/', 1)[1]} and {len(restored)} restored copies")


if __name__ == "__main__":
    main()
