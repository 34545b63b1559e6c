"""Helpers for the tests of scripts/: run a script, fill and fingerprint databases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from tests.support.servers import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"


def run_script(
    script: str | Path,
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a script from scripts/ the way an operator would; never raises on failure.

    stdin is /dev/null unless ``input`` is given, so a script that wrongly prompts fails
    instead of hanging the suite.
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(SCRIPTS / script), *map(str, args)],
        env=full_env,
        cwd=cwd or REPO_ROOT,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row (in a stable order) for every user table.

    Two databases with equal fingerprints hold the same data, value for value.
    """
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
                "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
            )
        ]
        result = {}
        for table in tables:
            count, digest = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                f"FROM {table} t"
            ).fetchone()
            result[table] = (count, digest)
        return result


def database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def drop_database_named(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_for(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
