"""db-backup.sh and dr-restore.sh against the real PostgreSQL server.

What these tests prove:
- a backup restored into a new database holds exactly the same data (every row of
  every table, compared by content fingerprint), with the schema revision intact;
- a corrupted, truncated or incomplete backup is refused and never yields a database;
- restores never overwrite an existing database without the flag and typed confirmation;
- a failing pg_dump leaves no file; retention deletes only what it should; two backups
  never run at once; --dry-run changes nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest

from tests.scripts.helpers import (
    database_exists,
    explain,
    run_script,
    table_fingerprints,
    url_for,
)
from tests.support import servers

BACKUP = "backup/db-backup.sh"
RESTORE = "backup/dr-restore.sh"


def backup(source_url: str, backup_dir: Path, *args: str, **env: str):
    return run_script(BACKUP, "--dir", backup_dir, *args, env={"DATABASE_URL": source_url, **env})


def make_backup(source_url: str, backup_dir: Path) -> Path:
    result = backup(source_url, backup_dir)
    assert result.returncode == 0, explain(result)
    dump = Path(result.stdout.strip().splitlines()[-1])
    assert dump.is_file(), explain(result)
    return dump


def restore(admin_url: str, *args: str | Path, **env: str):
    # DATABASE_URL points at the admin database: dr-restore.sh only uses its server.
    return run_script(RESTORE, *args, env={"DATABASE_URL": admin_url, **env})


def backup_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


# ----------------------------------------------------------------------- happy path


def test_backup_then_restore_into_new_database_gives_identical_data(
    source_db, postgres_admin_url, restored_names, tmp_path
):
    dump = make_backup(source_db, tmp_path)

    # The set on disk: dump, checksum in sha256sum format, metadata with exact counts.
    assert re.fullmatch(r"snip-snip_bk_src_[0-9a-f]{12}-\d{8}T\d{9}Z\.dump", dump.name)
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    assert Path(f"{dump}.sha256").read_text() == f"{digest}  {dump.name}\n"
    meta = json.loads(Path(f"{dump}.json").read_text())
    assert meta["sha256"] == digest
    assert meta["size_bytes"] == dump.stat().st_size
    assert meta["schema_revision"] == "0001_test_rev"
    assert meta["row_counts"] == {
        "public.alembic_version": 1,
        "public.click_stats": 3000,
        "public.link_tags": 2000,
        "public.links": 2001,
        "public.tags": 20,
    }
    assert meta["duration_seconds"] >= 0

    target = "snip_bk_restored_" + os.urandom(4).hex()
    restored_names.append(target)
    result = restore(postgres_admin_url, "--dir", tmp_path, "--target-db", target)
    assert result.returncode == 0, explain(result)
    assert re.search(rf"restored_database={target} elapsed_seconds=\d+\.\d", result.stdout)
    assert "restore completed in" in result.stderr

    assert table_fingerprints(url_for(postgres_admin_url, target)) == table_fingerprints(source_db)


def test_restore_picks_the_newest_complete_backup(
    source_db, postgres_admin_url, restored_names, tmp_path
):
    import psycopg

    make_backup(source_db, tmp_path)
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute("INSERT INTO tags (name) VALUES ('only-in-the-second-backup')")
    newest = make_backup(source_db, tmp_path)
    # A dump without its sidecars (e.g. copied by hand, half-done) must be ignored.
    (tmp_path / "snip-zzz-99991231T235959999Z.dump").write_bytes(newest.read_bytes())

    listed = restore(postgres_admin_url, "--dir", tmp_path, "--list")
    assert listed.stdout.splitlines()[0] == str(newest), explain(listed)

    target = "snip_bk_latest_" + os.urandom(4).hex()
    restored_names.append(target)
    result = restore(postgres_admin_url, "--dir", tmp_path, "--target-db", target)
    assert result.returncode == 0, explain(result)
    assert table_fingerprints(url_for(postgres_admin_url, target)) == table_fingerprints(source_db)


# --------------------------------------------------------------- damaged backups


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate"])
def test_damaged_backup_is_refused_before_anything_is_created(
    damage, source_db, postgres_admin_url, tmp_path
):
    dump = make_backup(source_db, tmp_path)
    data = bytearray(dump.read_bytes())
    if damage == "flip-a-byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    dump.write_bytes(bytes(data))

    target = "snip_bk_never_" + os.urandom(4).hex()
    result = restore(postgres_admin_url, "--backup", dump, "--target-db", target)
    assert result.returncode == 3, explain(result)
    assert "CHECKSUM MISMATCH" in result.stderr
    assert "corrupted or truncated" in result.stderr
    assert not database_exists(postgres_admin_url, target)


def test_truncated_backup_with_forged_checksum_still_yields_no_database(
    source_db, postgres_admin_url, tmp_path
):
    """Defence in depth: even if the checksum file was rewritten to match a truncated
    dump, pg_restore's listing or the restore itself fails, and the half-restored
    database is dropped again."""
    dump = make_backup(source_db, tmp_path)
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
    forged = hashlib.sha256(dump.read_bytes()).hexdigest()
    Path(f"{dump}.sha256").write_text(f"{forged}  {dump.name}\n")

    target = "snip_bk_forged_" + os.urandom(4).hex()
    result = restore(postgres_admin_url, "--backup", dump, "--target-db", target)
    assert result.returncode in (1, 3), explain(result)
    assert not database_exists(postgres_admin_url, target)


def test_backup_without_metadata_is_refused(source_db, postgres_admin_url, tmp_path):
    dump = make_backup(source_db, tmp_path)
    Path(f"{dump}.json").unlink()
    result = restore(postgres_admin_url, "--backup", dump, "--target-db", "snip_bk_nometa")
    assert result.returncode == 3, explain(result)
    assert "incomplete" in result.stderr


# ------------------------------------------------------ never overwrite by accident


def test_restore_refuses_an_existing_database_and_leaves_it_untouched(
    source_db, postgres_admin_url, tmp_path
):
    make_backup(source_db, tmp_path)
    existing = source_db.rsplit("/", 1)[1]
    before = table_fingerprints(source_db)

    result = restore(postgres_admin_url, "--dir", tmp_path, "--target-db", existing)
    assert result.returncode == 2, explain(result)
    assert "already exists" in result.stderr

    # --force-overwrite without a terminal and without the typed token is still refused.
    result = restore(
        postgres_admin_url, "--dir", tmp_path, "--target-db", existing, "--force-overwrite", "--yes"
    )
    assert result.returncode == 2, explain(result)
    result = restore(
        postgres_admin_url,
        "--dir",
        tmp_path,
        "--target-db",
        existing,
        "--force-overwrite",
        SNIP_CONFIRM_TOKEN="some-other-db",
    )
    assert result.returncode == 2, explain(result)
    assert table_fingerprints(source_db) == before


def test_force_overwrite_with_typed_confirmation_replaces_the_database(
    source_db, postgres_admin_url, restored_names, tmp_path
):
    import psycopg

    make_backup(source_db, tmp_path)
    target = "snip_bk_overwrite_" + os.urandom(4).hex()
    restored_names.append(target)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target}"')
    with psycopg.connect(url_for(postgres_admin_url, target), autocommit=True) as conn:
        conn.execute("CREATE TABLE stale (x int)")

    result = restore(
        postgres_admin_url,
        "--dir",
        tmp_path,
        "--target-db",
        target,
        "--force-overwrite",
        SNIP_CONFIRM_TOKEN=target,
    )
    assert result.returncode == 0, explain(result)
    assert table_fingerprints(url_for(postgres_admin_url, target)) == table_fingerprints(source_db)


def test_restore_dry_run_creates_nothing(source_db, postgres_admin_url, tmp_path):
    make_backup(source_db, tmp_path)
    target = "snip_bk_dry_" + os.urandom(4).hex()
    result = restore(postgres_admin_url, "--dir", tmp_path, "--target-db", target, "--dry-run")
    assert result.returncode == 0, explain(result)
    assert "[dry-run]" in result.stderr
    assert not database_exists(postgres_admin_url, target)


# ----------------------------------------------------------------- failing backups


def test_unreachable_database_fails_and_leaves_no_file(tmp_path):
    nobody = f"postgresql://postgres@127.0.0.1:{servers.free_port()}/snip"
    result = backup(nobody, tmp_path, PGCONNECT_TIMEOUT="3")
    assert result.returncode == 1, explain(result)
    assert backup_files(tmp_path) == []


def test_wrong_credentials_fail_and_leave_no_file(postgres_admin_url, tmp_path):
    wrong = postgres_admin_url.rsplit("/", 1)[0] + "/snip_database_that_does_not_exist"
    result = backup(wrong, tmp_path)
    assert result.returncode == 1, explain(result)
    assert backup_files(tmp_path) == []


def test_pg_dump_dying_halfway_leaves_no_file(source_db, tmp_path):
    """A pg_dump that writes half a dump and fails (disk full, killed, network cut)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "pg_dump"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'for a in "$@"; do case "$a" in --file=*) out="${a#--file=}";; esac; done\n'
        'if [[ "${1:-}" == --version ]]; then echo "pg_dump (fake) 15"; exit 0; fi\n'
        'head -c 4096 /dev/urandom > "$out"\n'
        'echo "pg_dump: error: could not write to output file: No space left on device" >&2\n'
        "exit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    backups = tmp_path / "backups"
    result = backup(source_db, backups, PATH=f"{fake_bin}:{os.environ['PATH']}")
    assert result.returncode == 1, explain(result)
    assert "pg_dump failed" in result.stderr
    assert backup_files(backups) == []


def test_backup_dry_run_writes_nothing(source_db, tmp_path):
    backups = tmp_path / "backups"
    result = backup(source_db, backups, "--dry-run")
    assert result.returncode == 0, explain(result)
    assert not backups.exists()


def test_second_backup_waits_for_no_one_and_exits_75_while_locked(source_db, tmp_path):
    make_backup(source_db, tmp_path)
    before = backup_files(tmp_path)
    with open(tmp_path / ".snip-backup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = backup(source_db, tmp_path)
    assert result.returncode == 75, explain(result)
    assert "another backup is running" in result.stderr
    assert backup_files(tmp_path) == before


# ---------------------------------------------------------------------- retention


def fake_backup_set(directory: Path, db: str, stamp: str) -> str:
    name = f"snip-{db}-{stamp}.dump"
    for suffix in ("", ".sha256", ".json"):
        (directory / f"{name}{suffix}").write_text("old")
    return name


def test_retention_by_count_keeps_the_newest_and_touches_nothing_else(source_db, tmp_path):
    db = source_db.rsplit("/", 1)[1]
    old = [fake_backup_set(tmp_path, db, f"2026010{d}T000000000Z") for d in range(1, 6)]
    other_db = fake_backup_set(tmp_path, "otherdb", "20200101T000000000Z")
    (tmp_path / "notes.txt").write_text("keep me")

    new = make_backup(source_db, tmp_path)
    result = backup(source_db, tmp_path, "--keep", "3")
    assert result.returncode == 0, explain(result)
    newest = Path(result.stdout.strip())

    remaining = backup_files(tmp_path)
    dumps = [n for n in remaining if n.startswith(f"snip-{db}-") and n.endswith(".dump")]
    # newest, the one before it, and the newest of the fake old ones
    assert dumps == sorted([newest.name, new.name, old[-1]])
    for name in dumps:
        assert f"{name}.sha256" in remaining and f"{name}.json" in remaining
    assert f"{old[0]}.json" not in remaining
    assert other_db in remaining and "notes.txt" in remaining


def test_retention_by_age_deletes_only_old_backups(source_db, tmp_path):
    db = source_db.rsplit("/", 1)[1]
    ancient = fake_backup_set(tmp_path, db, "20200101T000000000Z")
    recent = make_backup(source_db, tmp_path)
    result = backup(source_db, tmp_path, "--keep", "0", "--max-age-days", "30")
    assert result.returncode == 0, explain(result)
    remaining = backup_files(tmp_path)
    assert ancient not in remaining and f"{ancient}.sha256" not in remaining
    assert recent.name in remaining
    assert Path(result.stdout.strip()).name in remaining


def test_retention_never_deletes_the_only_backup(source_db, tmp_path):
    result = backup(source_db, tmp_path, "--keep", "1", "--max-age-days", "0")
    assert result.returncode == 0, explain(result)
    assert Path(result.stdout.strip()).is_file()


# ------------------------------------------------------------------- switching


def test_switch_kubernetes_only_after_a_verified_restore(
    source_db, postgres_admin_url, restored_names, tmp_path
):
    """The restored database is verified first; then the Secret's DATABASE_URL keeps its
    in-cluster host and credentials and only the database name changes; then the API
    and the flusher restart."""
    from tests.scripts.kube_fixtures import make_fake_cluster

    cluster = make_fake_cluster(tmp_path / "cluster")
    make_backup(source_db, tmp_path)
    target = "snip_bk_switch_" + os.urandom(4).hex()
    restored_names.append(target)
    result = cluster.run(
        RESTORE,
        "--dir",
        tmp_path,
        "--target-db",
        target,
        "--switch",
        "kubernetes",
        "--yes",
        DATABASE_URL=postgres_admin_url,
    )
    assert result.returncode == 0, explain(result)
    patch = next(c for c in cluster.calls if c.startswith("patch secret snip-secrets"))
    assert f"postgresql://snip:s3cret@snip-postgres:5432/{target}" in patch
    assert cluster.index("rollout restart deployment/snip-api") > cluster.calls.index(patch)
    assert cluster.index("rollout restart deployment/snip-flusher")
    assert "s3cret" not in result.stderr, "passwords never reach the logs"


def test_switch_is_never_done_when_the_restore_fails(source_db, tmp_path):
    from tests.scripts.kube_fixtures import make_fake_cluster

    cluster = make_fake_cluster(tmp_path / "cluster")
    dump = make_backup(source_db, tmp_path)
    dump.write_bytes(dump.read_bytes()[:100])
    result = cluster.run(
        RESTORE, "--backup", dump, "--switch", "kubernetes", "--yes", DATABASE_URL=source_db
    )
    assert result.returncode == 3, explain(result)
    assert cluster.mutating_calls() == []


def test_switch_only_dry_run_changes_nothing(tmp_path):
    from tests.scripts.kube_fixtures import make_fake_cluster

    cluster = make_fake_cluster(tmp_path)
    result = cluster.run(
        RESTORE,
        "--switch-only",
        "--switch",
        "kubernetes",
        "--target-db",
        "snip_restored",
        "--dry-run",
    )
    assert result.returncode == 0, explain(result)
    assert cluster.mutating_calls() == []
    applied = cluster.run(
        RESTORE, "--switch-only", "--switch", "kubernetes", "--target-db", "snip_restored", "--yes"
    )
    assert applied.returncode == 0, explain(applied)
    assert any("snip-postgres:5432/snip_restored" in c for c in cluster.mutating_calls())


# ------------------------------------------------------------ verification bites


@pytest.mark.parametrize("tamper", ["row-count", "revision"])
def test_restore_that_does_not_match_the_metadata_is_dropped(
    tamper, source_db, postgres_admin_url, tmp_path
):
    """If the restored data differ from what the backup recorded, the restore fails and
    the new database is removed: it must never be mistaken for a good copy."""
    dump = make_backup(source_db, tmp_path)
    meta_path = Path(f"{dump}.json")
    meta = json.loads(meta_path.read_text())
    if tamper == "row-count":
        meta["row_counts"]["public.links"] += 1
    else:
        meta["schema_revision"] = "9999_not_this_one"
    meta_path.write_text(json.dumps(meta))

    target = "snip_bk_mismatch_" + os.urandom(4).hex()
    result = restore(postgres_admin_url, "--backup", dump, "--target-db", target)
    assert result.returncode == 1, explain(result)
    assert "mismatch" in result.stderr
    assert not database_exists(postgres_admin_url, target)


def test_libpq_variables_work_without_database_url(
    source_db, postgres_admin_url, restored_names, tmp_path
):
    """The CronJob configures the connection with PG* variables, not DATABASE_URL."""
    from urllib.parse import urlparse

    parsed = urlparse(source_db)
    pg_env = {
        "DATABASE_URL": "",
        "PGHOST": parsed.hostname or "",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "",
        "PGDATABASE": parsed.path.lstrip("/"),
    }
    done = run_script(BACKUP, "--dir", tmp_path, env=pg_env)
    assert done.returncode == 0, explain(done)

    target = "snip_bk_pgenv_" + os.urandom(4).hex()
    restored_names.append(target)
    done = run_script(RESTORE, "--dir", tmp_path, "--target-db", target, env=pg_env)
    assert done.returncode == 0, explain(done)
    assert table_fingerprints(url_for(postgres_admin_url, target)) == table_fingerprints(source_db)
