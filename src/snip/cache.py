"""The link cache on the redirect path: in-process first, then Redis.

A worker keeps a link in memory for SNIP_LOCAL_CACHE_TTL_SECONDS (default 2 s);
that is the bound on how late an update or delete reaches every worker. Redis
keeps links for SNIP_CACHE_TTL_SECONDS. Writers (create, change, delete) *overwrite*
the Redis entry with the fresh value; readers that missed only fill it if it is
still empty (SET NX). So a reader that loaded the old row just before a change can
never put the old value back over the new one.
Unknown slugs are cached too (as None), for SNIP_NEGATIVE_CACHE_TTL_SECONDS, so
a scanner trying random slugs costs one database query per slug, not per request.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Final

import redis

from snip.models import as_utc
from snip.redis_client import RedisGuard

# Versioned: a release that changes CachedLink uses a new prefix, so old and new pods
# sharing Redis during a rolling update never read each other's entries.
LINK_CACHE_KEY_PREFIX: Final = "snip:link:v1:"
LOCAL_MAX_ENTRIES: Final = 50_000  # about 15 MB per worker at most


@dataclass(frozen=True)
class CachedLink:
    """What the redirect needs, and nothing that costs a query."""

    id: int
    url: str
    status: int
    expires_at: float | None  # unix seconds
    max_clicks: int | None
    deleted: bool

    @classmethod
    def from_row(cls, row) -> CachedLink:
        """From a Link, or a row with the same column names."""
        expires = as_utc(row.expires_at)
        return cls(
            id=row.id,
            url=row.url,
            status=row.redirect_status,
            expires_at=expires.timestamp() if expires else None,
            max_clicks=row.max_clicks,
            deleted=row.deleted_at is not None,
        )


class Missing:
    """Sentinel: the cache knows nothing about this slug."""


MISSING: Final = Missing()


class LinkCache:
    def __init__(self, guard: RedisGuard, ttl: int, local_ttl: float, negative_ttl: int) -> None:
        self.guard = guard
        self.ttl = ttl
        self.local_ttl = local_ttl
        self.negative_ttl = negative_ttl
        self._local: dict[str, tuple[float, CachedLink | None]] = {}

    def get(self, slug: str) -> CachedLink | Missing | None:
        now = time.monotonic()
        hit = self._local.get(slug)
        if hit is not None and hit[0] > now:
            return hit[1]
        client = self.guard.available()
        if client is None:
            return MISSING
        try:
            raw = client.get(LINK_CACHE_KEY_PREFIX + slug)
        except redis.RedisError as exc:
            self.guard.failed(exc)
            return MISSING
        if raw is None:
            return MISSING
        try:
            data = json.loads(raw)
            value = CachedLink(**data) if data is not None else None
        except (ValueError, TypeError):  # written by another release: ignore it
            return MISSING
        self._remember(slug, value, now)
        return value

    def fill(self, slug: str, value: CachedLink | None) -> None:
        """After a miss: remember what the database said, unless a writer got there first."""
        self._store(slug, value, overwrite=False)

    def put(self, slug: str, value: CachedLink | None) -> None:
        """After a write: the fresh value replaces whatever is cached."""
        self._store(slug, value, overwrite=True)

    def _store(self, slug: str, value: CachedLink | None, overwrite: bool) -> None:
        self._remember(slug, value, time.monotonic())
        client = self.guard.available()
        if client is None:
            return
        ttl = self.ttl if value is not None else self.negative_ttl
        payload = json.dumps(asdict(value) if value else None)
        try:
            client.set(LINK_CACHE_KEY_PREFIX + slug, payload, ex=ttl, nx=not overwrite)
        except redis.RedisError as exc:
            self.guard.failed(exc)

    def invalidate(self, slug: str) -> None:
        self._local.pop(slug, None)
        client = self.guard.available()
        if client is None:
            return
        try:
            client.delete(LINK_CACHE_KEY_PREFIX + slug)
        except redis.RedisError as exc:
            self.guard.failed(exc)

    def _remember(self, slug: str, value: CachedLink | None, now: float) -> None:
        if self.local_ttl <= 0:
            return
        if len(self._local) >= LOCAL_MAX_ENTRIES:
            # Crude but bounded: entries live 2 s, so dropping all costs little.
            self._local.clear()
        ttl = self.local_ttl if value is not None else min(self.local_ttl, self.negative_ttl)
        self._local[slug] = (now + ttl, value)
