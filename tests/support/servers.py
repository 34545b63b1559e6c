"""Real servers for the test suite: PostgreSQL, Redis and snip itself.

Tests never use mocks for the servers snip ships against. This module finds the
machine's PostgreSQL, or starts a throwaway cluster; it always starts a private
``redis-server`` on a free port, so a test may stop or break it without touching
the machine's shared Redis; and it runs snip under gunicorn exactly as production
does. When a server binary is missing the error says what to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

INSTALL_HINT = {
    "redis-server": "install Redis (Debian/Ubuntu: apt-get install redis-server; "
    "macOS: brew install redis)",
    "initdb": "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; "
    "macOS: brew install postgresql@15)",
}


class MissingServer(RuntimeError):
    """A server binary the tests need is not installed."""


def free_port() -> int:
    """Ask the kernel for a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def find_binary(name: str) -> str:
    """Locate a server binary on PATH or in Debian's versioned PostgreSQL folders."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise MissingServer(f"'{name}' not found: {INSTALL_HINT.get(name, 'install it')}")


# --------------------------------------------------------------------------- Redis


@dataclass
class RedisServer:
    """A private redis-server on a free loopback port, in its own folder."""

    directory: Path
    port: int = field(default_factory=free_port)
    maxmemory_policy: str = "volatile-lru"
    # True: keep data in an append-only file, as the cluster's Redis does, so a
    # stop and start keeps what was cached (a restarted pod with its volume).
    persistent: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = find_binary("redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--maxmemory-policy",
                self.maxmemory_policy,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        self._wait_until_loaded()
        return self

    def _wait_until_loaded(self, timeout: float = 20.0) -> None:
        """A persistent Redis answers LOADING until its data file is read back."""
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


# ---------------------------------------------------------------------- PostgreSQL

SHARED_POSTGRES_ADMIN_URL = os.environ.get(
    "SNIP_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_answers(admin_url: str) -> bool:
    try:
        with psycopg.connect(admin_url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _as_postgres_user(argv: list[str]) -> list[str]:
    """pg_ctl and initdb refuse to run as root; run them as 'postgres' then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port.

    Used when the machine has no PostgreSQL running, and by tests that stop or
    restart PostgreSQL: they break this one, never the shared server.
    """

    directory: Path
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        if os.geteuid() == 0:
            # pytest's tmp folders are private to root; the 'postgres' user that
            # runs the server must be able to reach its data directory.
            self.directory = Path(tempfile.mkdtemp(prefix="snip-pg-"))
            shutil.chown(self.directory, "postgres", "postgres")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([find_binary("pg_ctl"), "-D", str(self.data_dir), *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def init(self) -> PostgresCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            _as_postgres_user(
                [
                    find_binary("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self

    def start(self) -> PostgresCluster:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")
        return self

    def require_passwords(self) -> None:
        """Every role but postgres must log in with its password (scram), as in production."""
        (self.data_dir / "pg_hba.conf").write_text(
            "local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        self._pg_ctl("reload")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server and remove its files."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def create_database(admin_url: str, prefix: str = "snip_test") -> str:
    """Create an empty database with a unique name; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------- snip itself


def snip_env(**overrides: str) -> dict[str, str]:
    """The environment snip runs with in tests: the caller's, minus a local .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNIP_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["SNIP_DOTENV"] = "0"  # never read the developer's .env in tests
    env.update(overrides)
    return env


def run_snip_cli(
    *args: str, env: dict[str, str], check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``snip`` console script (migrations, users, keys, flusher)."""
    return subprocess.run(
        [str(VENV_BIN / "snip"), *args],
        env=env,
        check=check,
        capture_output=True,
        text=True,
        input=input,
    )


TEST_ADMIN = "admin@example.com"
TEST_PASSWORD = "correct horse battery"


def create_admin(
    env: dict[str, str], email: str = TEST_ADMIN, password: str = TEST_PASSWORD
) -> None:
    """The first admin, as an operator makes it (``snip users create``); once per database."""
    listing = run_snip_cli("users", "list", env=env).stdout
    if f"\t{email}\t" not in listing:
        run_snip_cli(
            "users", "create", "--email", email, "--admin", "--password-stdin",
            env=env, input=password + "\n",
        )  # fmt: skip


def create_key(env: dict[str, str], name: str = "test", *scopes: str) -> str:
    """An API key made with ``snip keys create`` (for the first admin, created if needed)."""
    create_admin(env)
    flags = [arg for scope in scopes for arg in ("--scope", scope)]
    return run_snip_cli("keys", "create", "--name", name, *flags, env=env).stdout.strip()


@dataclass
class SnipServer:
    """snip under gunicorn on a free loopback port, configured like production."""

    env: dict[str, str]
    workers: int = 2
    app_spec: str = "snip:create_app()"  # the benchmark swaps in a bare Flask app
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))
    # Its own click log folder unless the caller names one (never the repository's).
    click_log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="snip-clk-")))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> SnipServer:
        env = {
            **self.env,
            "PORT": str(self.port),
            "SNIP_BIND_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(self.workers),
        }
        env.setdefault("SNIP_BASE_URL", self.url)
        env.setdefault("SNIP_CLICK_LOG_DIR", str(self.click_log_dir))
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "python:snip.gunicorn_conf", self.app_spec],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"snip exited early:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                probe = requests.get(f"{self.url}/healthz", timeout=1, allow_redirects=False)
                if probe.status_code < 500:
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"snip did not answer /healthz in {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def running(server: RedisServer | PostgresCluster | SnipServer) -> Iterator[None]:
    try:
        yield
    finally:
        getattr(server, "close", server.stop)()
