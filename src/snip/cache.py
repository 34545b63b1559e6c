"""The link cache on the redirect path: in-process first, then Redis.

A worker keeps a link in memory for SNIP_LOCAL_CACHE_TTL_SECONDS (default 2 s);
that is the bound on how late an update or delete reaches every worker. Redis
keeps links for SNIP_CACHE_TTL_SECONDS. Readers that missed only fill Redis if the
entry is still empty (SET NX), so a reader that loaded the old row just before a
change can never put the old value back over the new one.
Unknown slugs are cached too (as None), for SNIP_NEGATIVE_CACHE_TTL_SECONDS, so
a scanner trying random slugs costs one database query per slug, not per request.

Takedowns must stick even when Redis is away at the moment of the change (issue 13:
a Redis that came back with its data served a deleted link again). So every ORM
write of a Link goes through two SQLAlchemy session hooks, whoever makes it (API,
web pages, CLI):
- after the flush, *before* the commit, the Redis entry is replaced by a PENDING
  marker, which readers treat as a miss and cannot overwrite (their fill is NX);
- if Redis does not take the marker, the cache epoch (one row in PostgreSQL) is
  bumped *in the same transaction* as the change. Redis keys carry the epoch and
  every worker re-reads it each EPOCH_CHECK_SECONDS, dropping its in-process
  entries when it moves: entries written before the change are never read again;
- after the commit the fresh value replaces the marker (if that fails, the marker
  keeps sending readers to the database until it expires).
The one extra cost on the redirect path is one primary-key read per worker per
EPOCH_CHECK_SECONDS (measured in docs/security.md), never one per request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Final

import redis
from sqlalchemy import event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from snip.extensions import db
from snip.models import CacheEpoch, Link, as_utc
from snip.redis_client import RedisGuard

log = logging.getLogger("snip.cache")

# Versioned: a release that changes CachedLink uses a new prefix, so old and new pods
# sharing Redis during a rolling update never read each other's entries.
# v2: keys also carry the cache epoch, snip:link:v2:<epoch>:<slug>.
LINK_CACHE_KEY_PREFIX: Final = "snip:link:v2:"
LOCAL_MAX_ENTRIES: Final = 50_000  # about 15 MB per worker at most
# A change is being committed: read the database, do not fill.
PENDING: Final = b"pending"
# How often each worker re-reads the epoch: with the local TTL, the staleness bound.
EPOCH_CHECK_SECONDS: Final = 1.0
# The epoch as the workers last read it, for a worker that starts while PostgreSQL is down.
EPOCH_KEY: Final = "snip:cache-epoch"
SESSION_KEY: Final = "snip.cache.changed"  # Session.info: slug -> value to publish


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


def redis_key(epoch: int | None, slug: str) -> str:
    return f"{LINK_CACHE_KEY_PREFIX}{epoch}:{slug}"


def read_epoch() -> int | None:
    """The current cache epoch, or None when the row is missing."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.scalar(select(CacheEpoch.epoch).where(CacheEpoch.id == 1))


class LinkCache:
    def __init__(
        self,
        guard: RedisGuard,
        ttl: int,
        local_ttl: float,
        negative_ttl: int,
        epoch_reader: Callable[[], int | None] = read_epoch,
    ) -> None:
        self.guard = guard
        self.read_epoch = epoch_reader
        self.ttl = ttl
        self.local_ttl = local_ttl
        self.negative_ttl = negative_ttl
        self._local: dict[str, tuple[float, CachedLink | None]] = {}
        self._epoch: int | None = None  # None: not known, Redis is not used
        self._epoch_from_database = False  # False: taken from Redis, not to be republished
        self._epoch_due = 0.0

    # ------------------------------------------------------------------ readers

    def get(self, slug: str) -> CachedLink | Missing | None:
        now = time.monotonic()
        if self.guard.enabled and now >= self._epoch_due:
            self._check_epoch(now)
        hit = self._local.get(slug)
        if hit is not None and hit[0] > now:
            return hit[1]
        client = self._client()
        if client is None:
            return MISSING
        try:
            raw = client.get(self._key(slug))
        except redis.RedisError as exc:
            self.guard.failed(exc)
            return MISSING
        if raw is None or raw == PENDING:
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

    # ------------------------------------------------------------------ writers

    def put(self, slug: str, value: CachedLink | None) -> None:
        """After a committed write: the fresh value replaces whatever is cached."""
        self._store(slug, value, overwrite=True)

    def mark_pending(self, slugs: list[str]) -> bool:
        """Before a commit: readers of these slugs go to the database. False if Redis did
        not take the markers (then the caller must bump the epoch)."""
        for slug in slugs:
            self._local.pop(slug, None)
        client = self._client()
        if client is None:
            return not self.guard.enabled  # no Redis configured: nothing can go stale
        try:
            with client.pipeline(transaction=False) as pipe:
                for slug in slugs:
                    pipe.set(self._key(slug), PENDING, ex=self.ttl)
                pipe.execute()
        except redis.RedisError as exc:
            self.guard.failed(exc)
            return False
        return True

    def invalidate(self, slug: str) -> None:
        self._local.pop(slug, None)
        client = self._client()
        if client is None:
            return
        try:
            client.delete(self._key(slug))
        except redis.RedisError as exc:
            self.guard.failed(exc)

    # ------------------------------------------------------------------ internals

    def _key(self, slug: str) -> str:
        return redis_key(self._epoch, slug)

    def _client(self) -> redis.Redis | None:
        """Redis, if it is up and this worker knows the current epoch."""
        now = time.monotonic()
        if self._epoch is None and self.guard.enabled and now >= self._epoch_due:
            self._check_epoch(now)
        return self.guard.available() if self._epoch is not None else None

    def _check_epoch(self, now: float) -> None:
        self._epoch_due = now + EPOCH_CHECK_SECONDS
        try:
            epoch = self.read_epoch()
        except SQLAlchemyError as exc:
            # The database is away. Keep the last epoch: every change needs the database,
            # so none can happen that this worker would miss. A worker that never read it
            # (started during the outage) takes the one workers publish in Redis, so cached
            # links keep redirecting.
            if self._epoch is None:
                self._epoch = self._published_epoch()
            elif self._epoch_from_database:
                self._publish_epoch()  # corrects a Redis that came back with an older one
            log.warning("cannot read the cache epoch, using %s: %s", self._epoch, exc)
            return
        if epoch != self._epoch:
            self._local.clear()  # may hold entries read under the old epoch
            self._epoch = epoch
        self._epoch_from_database = True
        self._publish_epoch()

    def _published_epoch(self) -> int | None:
        client = self.guard.available()
        try:
            raw = client.get(EPOCH_KEY) if client is not None else None
            return int(raw) if raw is not None else None
        except (redis.RedisError, ValueError) as exc:
            if isinstance(exc, redis.RedisError):
                self.guard.failed(exc)
            return None

    def _publish_epoch(self) -> None:
        # Every check rewrites it: a Redis restarted from its file with an older value is
        # corrected within EPOCH_CHECK_SECONDS.
        client = self.guard.available()
        if client is None or self._epoch is None:
            return
        try:
            client.set(EPOCH_KEY, self._epoch)
        except redis.RedisError as exc:
            self.guard.failed(exc)

    def _store(self, slug: str, value: CachedLink | None, overwrite: bool) -> None:
        self._remember(slug, value, time.monotonic())
        client = self._client()
        if client is None:
            return
        ttl = self.ttl if value is not None else self.negative_ttl
        payload = json.dumps(asdict(value) if value else None)
        try:
            client.set(self._key(slug), payload, ex=ttl, nx=not overwrite)
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


# ---------------------------------------------------------------- the write hooks


def _app_cache() -> LinkCache | None:
    from snip.state import current_state  # imported here: snip.state imports this module

    snip = current_state()
    return snip.cache if snip is not None else None


@event.listens_for(Session, "after_flush")
def _before_commit_mark(session: Session, _flush_context) -> None:
    """Runs inside the transaction, after Link rows were written, before they commit."""
    changed = {
        obj.slug: obj
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Link)
    }
    cache = _app_cache()
    if not changed or cache is None or not cache.guard.enabled:
        return
    if not cache.mark_pending(list(changed)):
        epoch = session.connection().scalar(
            update(CacheEpoch)
            .where(CacheEpoch.id == 1)
            .values(epoch=CacheEpoch.epoch + 1)
            .returning(CacheEpoch.epoch)
        )
        log.warning(
            "redis did not take the change of %s; cache epoch moves to %s with the commit",
            ", ".join(sorted(changed)),
            epoch,
        )
    publish = session.info.setdefault(SESSION_KEY, {})
    for slug, link in changed.items():
        publish[slug] = None if link in session.deleted else CachedLink.from_row(link)


@event.listens_for(Session, "after_commit")
def _after_commit_publish(session: Session) -> None:
    publish = session.info.pop(SESSION_KEY, None)
    cache = _app_cache()
    if not publish or cache is None:
        return
    for slug, value in publish.items():
        if value is None:
            cache.invalidate(slug)
        else:
            cache.put(slug, value)


@event.listens_for(Session, "after_rollback")
def _after_rollback_forget(session: Session) -> None:
    # Nothing changed: drop the markers so readers fill the cache again.
    publish = session.info.pop(SESSION_KEY, None)
    cache = _app_cache()
    if publish and cache is not None:
        for slug in publish:
            cache.invalidate(slug)
