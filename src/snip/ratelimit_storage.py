"""A rate-limit storage every gunicorn worker on one machine shares: a SQLite file.

Without Redis (the embedded mode) Flask-Limiter's memory storage counts in each
worker apart, so "60 per minute" let 88 of 130 writes through with two workers
(issue 13). The `limits` package has no storage for one machine's processes, so
this is one: a counter per key in a SQLite file, incremented by a single atomic
UPSERT (SQLite serialises writers with its file lock). It implements the fixed
window, Flask-Limiter's default strategy.

URI: ``snip+sqlite:///absolute/path/to/file``. Registering happens on import (the
``limits`` storage registry reads STORAGE_SCHEME).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Final

from limits.storage import Storage

SCHEME: Final = "snip+sqlite"
PRUNE_EVERY: Final = 500  # increments between sweeps of expired counters

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
)
"""
# A window that is over starts again at `amount`, with a new expiry.
INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN excluded.count ELSE count + excluded.count END,
    expires_at = CASE WHEN expires_at <= :now THEN excluded.expires_at ELSE expires_at END
RETURNING count
"""


class SqliteStorage(Storage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.path = uri.split("://", 1)[1]
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._increments = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross fork(): the gunicorn master may have opened one.
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=5, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            db = self._db()
            row = db.execute(
                INCREMENT, {"key": key, "amount": amount, "expires_at": now + expiry, "now": now}
            ).fetchone()
            self._increments += 1
            if self._increments % PRUNE_EVERY == 0:
                db.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return int(row[0])

    def get(self, key: str) -> int:
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT count FROM counters WHERE key = ? AND expires_at > ?",
                    (key, time.time()),
                )
                .fetchone()
            )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            row = self._db().execute("SELECT expires_at FROM counters WHERE key = ?", (key,))
            found = row.fetchone()
        return float(found[0]) if found and found[0] > time.time() else time.time()

    def check(self) -> bool:
        try:
            with self._lock:
                self._db().execute("SELECT 1")
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        with self._lock:
            return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM counters WHERE key = ?", (key,))
