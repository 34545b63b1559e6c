"""Point-in-time recovery from encrypted object storage, with the real tools.

One throwaway PostgreSQL cluster archives its WAL with pgBackRest into a real
S3-compatible server (rclone serve s3, over TLS) with client-side encryption. A base
backup is taken by scripts/backup/base-backup.sh; links are written, clicks flushed,
an instant T noted; then one link is deleted and another created. What these tests
prove:
- dr-restore.sh --to-time T gives a NEW data directory holding the database exactly
  as it was at T: the deleted link is back, the later one absent, clicks up to T there;
- a wrong encryption key, a corrupted object and a missing WAL segment are each
  refused with a message naming which, and no restored data directory is left.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.scripts.conftest import SCHEMA
from tests.scripts.helpers import explain
from tests.support.objectstore import BackupLab, require_backup_tools
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


@dataclass
class Story:
    lab: BackupLab
    t: str  # ISO 8601, UTC
    clicks_at_t: int
    deleted: str
    created_later: str


def clicks_of(conn: psycopg.Connection, slug: str) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(c.clicks), 0) FROM click_stats c JOIN links l ON l.id = c.link_id "
        "WHERE l.slug = %s",
        (slug,),
    ).fetchone()
    return int(row[0])


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    require_backup_tools()
    lab = BackupLab(tmp_path_factory.mktemp("pitr")).start()
    try:
        url = lab.admin_url.rsplit("/", 1)[0] + "/snip"
        with psycopg.connect(lab.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE snip")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        done = lab.run("backup/base-backup.sh")
        assert done.returncode == 0, explain(done)

        stopped_at = int(re.search(r"stop_epoch=(\d+)", done.stdout).group(1))
        with psycopg.connect(url, autocommit=True) as conn:
            # pgBackRest records a backup's end in whole seconds: T must come after it.
            while (
                conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0]
                <= stopped_at + 1
            ):
                time.sleep(0.1)
            conn.execute(
                "INSERT INTO links (slug, target_url) VALUES ('keep-me', 'https://a.example/')"
            )
            # A click flush for s5 (one batch).
            conn.execute(
                "UPDATE click_stats SET clicks = clicks + 40 "
                "WHERE link_id = 5 AND day = '2026-11-01'"
            )
            clicks_at_t = clicks_of(conn, "s5")
            t = conn.execute(
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
            ).fetchone()[0]
            # After T: a link deleted by mistake, a new one, more clicks.
            conn.execute("DELETE FROM link_tags WHERE link_id = 700")
            conn.execute("DELETE FROM links WHERE slug = 's700'")
            conn.execute(
                "INSERT INTO links (slug, target_url) VALUES ('later', 'https://b.example/')"
            )
            conn.execute("UPDATE click_stats SET clicks = clicks + 1000 WHERE link_id = 5")
        lab.switch_wal()
        yield Story(lab, t, clicks_at_t, deleted="s700", created_later="later")
    finally:
        lab.stop()


def restore_to_t(story: Story, name: str, *extra: str, **env: str):
    data_dir = story.lab.new_data_dir(name)
    result = story.lab.run(
        "backup/dr-restore.sh",
        "--to-time",
        story.t,
        "--data-dir",
        str(data_dir),
        "--port",
        str(free_port()),
        *extra,
        **env,
    )
    return result, data_dir


def test_restore_to_an_instant_brings_back_exactly_that_instant(story):
    port = free_port()
    data_dir = story.lab.new_data_dir("good")
    result = story.lab.run(
        "backup/dr-restore.sh",
        "--to-time",
        story.t,
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--keep-running",
    )
    assert result.returncode == 0, explain(result)
    assert re.search(
        r"restored_to=\S+ last_commit=\S+ data_dir=\S+ port=\d+ elapsed_seconds=[\d.]+",
        result.stdout,
    )
    assert "target reached: recovery stopping before commit" in result.stderr
    socket_dir = re.search(r"socket directory: (\S+)", result.stderr).group(1)
    try:
        with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="snip") as conn:
            slugs = {
                r[0]
                for r in conn.execute(
                    "SELECT slug FROM links WHERE slug IN ('s700', 'later', 'keep-me')"
                )
            }
            assert slugs == {"s700", "keep-me"}, "the deleted link is back; the later one is absent"
            assert clicks_of(conn, "s5") == story.clicks_at_t, "clicks flushed up to T, none after"
            assert (
                conn.execute("SELECT count(*) FROM link_tags WHERE link_id = 700").fetchone()[0]
                == 1
            )
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    finally:
        story.lab.stop_restored(data_dir)


# ------------------------------------------------------------- refusals


def assert_refused(result, data_dir: Path, sentence: str) -> None:
    assert result.returncode == 3, explain(result)
    assert sentence in result.stderr, explain(result)
    assert not data_dir.exists(), "no half-restored data directory is left behind"


def test_a_wrong_encryption_key_is_refused_and_named(story):
    result, data_dir = restore_to_t(
        story, "wrong-key", PGBACKREST_REPO1_CIPHER_PASS="not the operator's key"
    )
    assert_refused(result, data_dir, "WRONG ENCRYPTION KEY")


def test_a_corrupted_object_is_refused_and_named(story):
    """One flipped byte in a data file of the base backup, on the server's disk."""
    s3 = story.lab.s3
    victim = max(s3.objects("snip/backup"), key=lambda p: p.stat().st_size)
    original = victim.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    try:
        result, data_dir = restore_to_t(story, "corrupted")
    finally:
        victim.write_bytes(original)
    assert_refused(result, data_dir, "CORRUPTED BACKUP OBJECT")


@pytest.mark.parametrize("mode", ["--to-time", "--to-latest"])
def test_a_missing_wal_segment_is_refused_and_named(story, mode):
    """A WAL segment disappears from the bucket.

    --to-time: the last segment, which holds T: the target cannot be reached.
    --to-latest: one before the last: PostgreSQL would stop at the gap and promote,
    silently losing what follows, unless the restore notices the gap."""
    s3 = story.lab.s3
    segments = [p for p in s3.objects("snip/archive") if re.match(r"[0-9A-F]{24}-", p.name)]
    victim = segments[-1] if mode == "--to-time" else segments[-2]
    key = s3.key_of(victim)
    kept = story.lab.work / "kept-segment"
    kept.write_bytes(victim.read_bytes())
    s3.delete(key)
    try:
        if mode == "--to-time":
            result, data_dir = restore_to_t(story, "missing-wal")
        else:
            data_dir = story.lab.new_data_dir("missing-wal-latest")
            result = story.lab.run(
                "backup/dr-restore.sh", "--to-latest", "--data-dir", str(data_dir),
                "--port", str(free_port()),
            )  # fmt: skip
    finally:
        s3.upload(kept, key)
    assert_refused(result, data_dir, "MISSING WAL SEGMENT")
    assert victim.name[:24] in result.stderr, "the message names the segment"


def test_restores_never_reuse_a_directory_or_guess_a_time_zone(story):
    busy = story.lab.new_data_dir("busy")
    busy.mkdir()
    (busy / "PG_VERSION").write_text("15\n")
    result = story.lab.run("backup/dr-restore.sh", "--to-time", story.t, "--data-dir", str(busy))
    assert result.returncode == 2, explain(result)
    assert (busy / "PG_VERSION").exists()

    result = story.lab.run("backup/dr-restore.sh", "--to-time", "2026-11-30 05:00:00")
    assert result.returncode == 64, explain(result)
    assert "time zone" in result.stderr
