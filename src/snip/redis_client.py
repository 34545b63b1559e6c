"""One Redis connection pool per process, with a short circuit breaker.

Redis is optional at run time: when it does not answer, snip keeps redirecting
from PostgreSQL and writes clicks there directly. The breaker stops every request
from waiting on a dead Redis: after a failure it is skipped for a second.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("snip.redis")

RETRY_AFTER_FAILURE_SECONDS = 1.0
# A healthy Redis answers in well under a millisecond on the same network.
SOCKET_TIMEOUT_SECONDS = 0.25


class RedisGuard:
    def __init__(self, url: str | None) -> None:
        self.client: redis.Redis | None = (
            redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                health_check_interval=30,
            )
            if url
            else None
        )
        self._skip_until = 0.0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def available(self) -> redis.Redis | None:
        """The client, unless Redis is disabled or failed less than a second ago."""
        if self.client is None or time.monotonic() < self._skip_until:
            return None
        return self.client

    def failed(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._skip_until:
                log.warning(
                    "redis unavailable, falling back for %.0fs: %s",
                    RETRY_AFTER_FAILURE_SECONDS,
                    exc,
                )
            self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS

    def ping(self) -> str:
        """'ok', 'disabled' or 'error: …' for /readyz and metrics (ignores the breaker)."""
        if self.client is None:
            return "disabled"
        try:
            self.client.ping()
            return "ok"
        except redis.RedisError as exc:
            self.failed(exc)
            return f"error: {exc}"
