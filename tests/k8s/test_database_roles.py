"""Least-privilege database roles (roles.sh in k8s/database/postgres.yaml) on a real PostgreSQL.

The script runs as the image's entrypoint runs it (bootstrap superuser, passwords from
files), on a throwaway cluster that checks passwords (scram-sha-256). Then each role can
do its job and nothing more: the migrator migrates, the app reads and writes rows but
cannot change or drop the schema, the exporter reads statistics but no row, the backup
role dumps everything but writes nothing. The defect: the app and the exporter connected
as the PostgreSQL superuser.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.support import servers
from tests.support.servers import REPO_ROOT


def roles_script(tmp: Path) -> Path:
    """The script exactly as k8s/database/postgres.yaml ships it (ConfigMap snip-postgres-init)."""
    from tests.k8s.conftest import load_yaml_files

    path = REPO_ROOT / "k8s" / "database" / "postgres.yaml"
    (cm,) = [
        o
        for o in load_yaml_files([path])[str(path)]
        if o["metadata"]["name"] == "snip-postgres-init"
    ]
    script = tmp / "roles.sh"
    script.write_text(cm["data"]["roles.sh"])
    return script


PASSWORDS = {"migrator": "m-pw'1", "app": "a-pw2", "exporter": "e-pw3", "backup": "b-pw4"}


def run_roles(cluster: servers.PostgresCluster, secrets: Path) -> subprocess.CompletedProcess[str]:
    script = roles_script(secrets.parent)
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "snip",
        "SNIP_DB_SECRETS": str(secrets),
    }
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)


@pytest.fixture
def roles_cluster(tmp_path):
    cluster = servers.PostgresCluster(tmp_path / "pg").init().start()
    with servers.running(cluster):
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE snip")  # the image's POSTGRES_DB
        cluster.require_passwords()
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        for role, pw in PASSWORDS.items():
            (secrets / f"{role}-password").write_text(pw)
        done = run_roles(cluster, secrets)
        assert done.returncode == 0, done.stderr
        yield cluster, secrets


def url(cluster: servers.PostgresCluster, role: str) -> str:
    from urllib.parse import quote

    return f"postgresql://snip_{role}:{quote(PASSWORDS[role])}@127.0.0.1:{cluster.port}/snip"


def refused(role_url: str, sql: str) -> bool:
    try:
        with psycopg.connect(role_url, autocommit=True) as conn:
            conn.execute(sql)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_each_role_does_its_job_and_nothing_more(roles_cluster):
    cluster, secrets = roles_cluster
    migrator, app, exporter, backup = (
        url(cluster, r) for r in ("migrator", "app", "exporter", "backup")
    )
    # The migrations run as the migrator (the pods' init step).
    result = servers.run_snip_cli(
        "migrate", "--wait", "10", env=servers.snip_env(DATABASE_URL=migrator), check=False
    )
    assert result.returncode == 0, result.stderr
    # The app writes through snip itself, and reads the schema revision (/readyz).
    user = subprocess.run(
        [
            str(servers.VENV_BIN / "snip"),
            "users",
            "create",
            "--email",
            "a@example.com",
            "--admin",
            "--password-stdin",
        ],
        env=servers.snip_env(DATABASE_URL=app),
        input="a long enough password 123\n",
        capture_output=True,
        text=True,
    )
    assert user.returncode == 0, user.stderr
    with psycopg.connect(app) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert refused(app, "CREATE TABLE evil (id int)")
    assert refused(app, "DROP TABLE links")
    assert refused(app, "ALTER TABLE links ADD COLUMN evil int")
    # The exporter sees statistics, not rows.
    with psycopg.connect(exporter) as conn:
        assert conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0] >= 1
    assert refused(exporter, "SELECT * FROM users")
    # The backup role dumps everything and writes nothing.
    dump = subprocess.run(
        [servers.find_binary("pg_dump"), "-Fc", "-f", str(secrets.parent / "snip.dump"), backup],
        capture_output=True,
        text=True,
    )
    assert dump.returncode == 0, dump.stderr
    assert refused(backup, "DELETE FROM users")
    # None of them is a superuser.
    with psycopg.connect(cluster.admin_url.rsplit("/", 1)[0] + "/snip") as conn:
        supers = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'snip_%' AND rolsuper"
        ).fetchall()
    assert supers == []


def test_the_script_is_idempotent_and_applies_to_an_existing_schema(roles_cluster):
    """Run again on a database whose tables exist (an install older than the roles)."""
    cluster, secrets = roles_cluster
    admin = cluster.admin_url.rsplit("/", 1)[0] + "/snip"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE legacy (id serial PRIMARY KEY, v text)")  # owned by postgres
    again = run_roles(cluster, secrets)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(url(cluster, "app"), autocommit=True) as conn:
        conn.execute("INSERT INTO legacy (v) VALUES ('x')")
    with psycopg.connect(admin) as conn:
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'legacy'"
        ).fetchone()[0]
    assert owner == "snip_migrator"
