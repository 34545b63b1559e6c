"""The click log: an append-only file per worker process on local disk.

Why a file: a redirect must not wait on the network, yet a worker killed the next
instant (SIGKILL, out of memory) must not lose the click it answered. ``os.write``
on a file opened with ``O_APPEND`` returns once the line is in the kernel's page
cache, which belongs to the kernel, not to the process: a killed process cannot
take it along. (A power cut or a lost node can; see docs/api.md for the bound.)

Files ("segments") are named ``<start time>-<pid>-<random>.clicks`` and live in one
directory per database (so a log written for one database is never shipped into
another). A worker holds an exclusive ``flock`` on its own segment for as long as it
lives; the kernel drops the lock when the process dies, however it dies. So "the lock
is free" means exactly "the writer is gone", without trusting pids (which get
reused): that is how a successor, or ``snip clicks flush``, finds orphaned segments
to adopt.

A line is one click: tab-separated fields, written by one ``os.write`` call, so a
reader never sees half a line from a live writer; a reader only takes lines up to
the last newline.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".clicks"
ROTATE_BYTES = 8 * 1024 * 1024  # a fully shipped segment this big is replaced by a new one


def database_directory(root: Path, database_url: str) -> Path:
    """The log directory for one database: never the password, only where it lives."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    identity = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return root / hashlib.sha256(identity.encode()).hexdigest()[:16]


class ClickLog:
    """The writing side: one segment per process, opened lazily (after gunicorn forks)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._name: str | None = None
        self._pid: int | None = None
        # Uncontended, a lock costs well under a microsecond; it makes closing a segment
        # safe against a request thread that is appending to it.
        self._lock = threading.Lock()

    @property
    def segment(self) -> str | None:
        """This process's current segment name (None before the first click)."""
        return self._name if self._pid == os.getpid() else None

    def append(self, line: bytes) -> None:
        """Write one complete line; when this returns the click survives a SIGKILL."""
        with self._lock:
            if self._pid != os.getpid() or self._fd is None:
                self._open()  # a forked child never writes into its parent's segment
            os.write(self._fd, line)  # type: ignore[arg-type]

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        # Locked under a name no adopter looks at, then renamed (atomically): otherwise
        # an adopter could lock the new, empty file first and delete it under us.
        hidden = self.directory / f".{name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours until we close it or die
        os.rename(hidden, self.directory / name)
        self._fd, self._name, self._pid = fd, name, os.getpid()

    def close(self) -> str | None:
        """Stop writing to the current segment (the next click opens a new one).

        The closed segment is then an orphan like a dead worker's, shipped and deleted
        by whoever adopts it first. Returns its name.
        """
        with self._lock:
            if self._pid != os.getpid() or self._fd is None:
                return None
            os.close(self._fd)
            name, self._fd, self._name, self._pid = self._name, None, None, None
            return name


def segments(directory: Path) -> list[str]:
    """Segment names in the directory, oldest first."""
    try:
        return sorted(p.name for p in directory.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def adopt(directory: Path, name: str) -> Iterator[bool]:
    """Take an orphaned segment's lock: yields True when its writer is gone (and
    nobody else is adopting it), False when it is alive or being adopted."""
    try:
        fd = os.open(directory / name, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)


def read_lines(path: Path, start: int, max_bytes: int) -> tuple[list[bytes], int]:
    """Complete lines from byte ``start``, at most about ``max_bytes``; returns (lines, end).

    A trailing line without its newline is left alone: its write never returned, so
    its redirect was never answered.
    """
    with open(path, "rb") as f:
        f.seek(start)
        chunk = f.read(max_bytes)
    cut = chunk.rfind(b"\n")
    if cut < 0:
        return [], start
    return chunk[: cut + 1].splitlines(), start + cut + 1


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
