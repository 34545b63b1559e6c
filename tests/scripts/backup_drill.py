"""`make backup-drill`: the whole backup and recovery story on one machine, measured.

Not a test module (pytest does not collect it); tests/scripts/test_backup_drill.py
runs it, and operators run it with `make backup-drill`:

1. start a real S3-compatible server (rclone serve s3, TLS) and a throwaway
   PostgreSQL with WAL archiving to it through pgBackRest (client-side encrypted,
   archive_timeout as in k8s/database), holding a snip-shaped database
   (--links rows to start with);
2. a writer creates links and flushes clicks continuously; WHILE it writes,
   scripts/backup/base-backup.sh takes the base backup; the writer goes on;
3. halfway through, an instant T is noted; then the primary is lost (immediate stop:
   whatever WAL was not archived yet is gone, as with a dead machine);
4. `dr-restore.sh --to-time T`: every write committed before T is there, none begun
   after T;
5. `restore-drill.sh` (= dr-restore.sh --to-latest --scratch): everything archived comes
   back with no hole; RPO = loss time - commit time of the last write that came back,
   RTO = time of that restore (download, decrypt, replay, verify);
6. stop everything, print `RPO <s>` and `RTO <s>`; exit 1 if a check fails or RPO > 60 s.

    .venv/bin/python -m tests.scripts.backup_drill [--links 1000000] [--after-seconds 40]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.scripts.conftest import SCHEMA
from tests.support.objectstore import BackupLab
from tests.support.servers import free_port

RPO_LIMIT = 60.0
ARCHIVE_TIMEOUT = 30  # as k8s/database/postgres.yaml: RPO <= 60 s with room to spare


@dataclass(eq=False)
class Writer(threading.Thread):
    """Creates links (with a click flush each) and remembers when each committed."""

    url: str
    began: dict[int, float] = field(default_factory=dict)  # n -> wall time before BEGIN
    committed: dict[int, float] = field(default_factory=dict)  # n -> wall time after COMMIT
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    self.began[n] = time.time()
                    with conn.transaction():
                        link_id = conn.execute(
                            "INSERT INTO links (slug, target_url) VALUES (%s, %s) RETURNING id",
                            (f"drill-{n}", f"https://example.org/drill/{n}"),
                        ).fetchone()[0]
                        conn.execute(
                            "INSERT INTO click_stats (link_id, day, clicks) "
                            "VALUES (%s, current_date, %s)",
                            (link_id, n),
                        )
                    self.committed[n] = time.time()
                    self.stop.wait(0.05)  # about 20 links and 20 click flushes a second
        except BaseException as exc:  # reported by main(), never lost in the thread
            self.error = exc


def drill_slugs(host: str, port: int) -> set[int]:
    with psycopg.connect(host=host, port=port, user="postgres", dbname="snip") as conn:
        rows = conn.execute(
            "SELECT substr(l.slug, 7)::int FROM links l JOIN click_stats c ON c.link_id = l.id "
            "WHERE l.slug LIKE 'drill-%'"
        )
        return {r[0] for r in rows}


def check(condition: bool, message: str) -> None:
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=10_000, help="rows in links at the start")
    parser.add_argument("--after-seconds", type=float, default=40.0,
                        help="how long the writer goes on after the base backup")  # fmt: skip
    parser.add_argument("--archive-timeout", type=int, default=ARCHIVE_TIMEOUT)
    args = parser.parse_args()

    lab = BackupLab(
        Path(tempfile.mkdtemp(prefix="snip-drill-")), archive_timeout=args.archive_timeout
    )
    print(
        "starting an S3 server and an archiving PostgreSQL "
        f"(archive_timeout {args.archive_timeout}s)"
    )
    lab.start()
    writer: Writer | None = None
    try:
        assert lab.cluster
        url = lab.admin_url.rsplit("/", 1)[0] + "/snip"
        with psycopg.connect(lab.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE snip")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(
                "INSERT INTO links (slug, target_url) SELECT 'bulk-' || g, "
                "'https://example.com/articles/' || g || '?utm_source=snip&ref=' || md5(g::text) "
                "FROM generate_series(1, %s) g",
                (max(args.links - 2001, 0),),
            )
            total = conn.execute("SELECT count(*) FROM links").fetchone()[0]
        print(f"database ready: {total} links")

        writer = Writer(url)
        writer.start()
        backup = lab.run("backup/base-backup.sh", timeout=3600)
        during = [n for n, t in writer.committed.items() if t < time.time()]
        print(backup.stderr, end="")
        check(
            backup.returncode == 0,
            f"base backup taken while the writer wrote ({len(during)} writes so far)",
        )
        after_backup = time.time()
        t_mark = after_backup + args.after_seconds / 2
        while time.time() < t_mark:
            time.sleep(0.2)
        t_iso = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_mark))
            + f".{int(t_mark % 1 * 1e6):06d}Z"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            t_segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
            while time.time() < after_backup + args.after_seconds:
                time.sleep(0.2)
            # A restore to T needs the WAL segment holding T in the archive: it is pushed
            # up to archive_timeout after T, plus the push itself. Losing the primary
            # before that would test the race, not the restore; wait for it (bounded).
            deadline = time.time() + args.archive_timeout + 60
            while True:
                (archived,) = conn.execute(
                    "SELECT last_archived_wal FROM pg_stat_archiver"
                ).fetchone()
                if archived is not None and archived >= t_segment:
                    break
                if time.time() > deadline:
                    check(False, f"WAL segment {t_segment} (holds T) archived in time")
                time.sleep(0.2)
        # The disaster: the machine is gone. Immediate stop: no shutdown checkpoint,
        # no last archive push; what was not archived yet is lost.
        writer.stop.set()
        writer.join(timeout=10)
        check(writer.error is None, f"writer committed {len(writer.committed)} writes")
        lost_at = time.time()
        lab.cluster._pg_ctl("-m", "immediate", "-w", "stop")
        print(f"primary lost at {time.strftime('%H:%M:%S', time.gmtime(lost_at))} UTC; T = {t_iso}")

        # Point in time: exactly the writes before T.
        port = free_port()
        pitr = lab.run("backup/dr-restore.sh", "--to-time", t_iso, "--port", str(port),
                       "--data-dir", str(lab.new_data_dir("pitr")), "--keep-running",
                       timeout=3600)  # fmt: skip
        print(pitr.stderr, end="")
        check(pitr.returncode == 0, f"dr-restore.sh --to-time {t_iso}")
        socket_dir = re.search(r"socket directory: (\S+)", pitr.stderr).group(1)
        try:
            restored = drill_slugs(socket_dir, port)
        finally:
            lab.stop_restored(lab.new_data_dir("pitr"))
        before_t = {n for n, t in writer.committed.items() if t < t_mark}
        after_t = {n for n, t in writer.began.items() if t > t_mark}
        check(before_t <= restored, f"all {len(before_t)} writes committed before T are back")
        check(not (after_t & restored), f"none of the {len(after_t)} writes begun after T is")

        # Latest: everything the archive holds, as after losing the machine.
        port = free_port()
        latest = lab.run("backup/dr-restore.sh", "--to-latest", "--port", str(port),
                         "--data-dir", str(lab.new_data_dir("latest")), "--keep-running",
                         timeout=3600)  # fmt: skip
        print(latest.stderr, end="")
        check(latest.returncode == 0, "dr-restore.sh --to-latest")
        rto = float(re.search(r"elapsed_seconds=([\d.]+)", latest.stdout).group(1))
        socket_dir = re.search(r"socket directory: (\S+)", latest.stderr).group(1)
        try:
            back = drill_slugs(socket_dir, port)
        finally:
            lab.stop_restored(lab.new_data_dir("latest"))
        last_back = max(back, default=0)
        check(back == set(range(1, last_back + 1)), f"writes 1..{last_back} all came back, no hole")
        rpo = lost_at - writer.committed[last_back] if last_back else float("inf")

        # The scheduled drill's own script: latest, scratch, verified, removed.
        drill = lab.run("backup/restore-drill.sh", "--port", str(free_port()),
                        "--data-dir", str(lab.new_data_dir("drill")), timeout=3600)  # fmt: skip
        print(drill.stderr, end="")
        check(drill.returncode == 0, "restore-drill.sh passed")
        check(not lab.new_data_dir("drill").exists(), "its scratch data directory is gone")
        print(f"RPO {rpo:.1f}")
        print(f"RTO {rto:.1f}")
        check(rpo <= RPO_LIMIT, f"RPO {rpo:.1f} s <= {RPO_LIMIT:.0f} s")
    finally:
        if writer and writer.is_alive():
            writer.stop.set()
        lab.stop()
        print("stopped the S3 server and PostgreSQL; removed their files")


if __name__ == "__main__":
    sys.exit(main())
