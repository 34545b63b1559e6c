"""Clicks: recorded on the redirect path without a database write, flushed in batches.

Recording (with Redis): one atomic script call (one round trip) increments a
counter in the hash ``snip:clicks:pending`` whose field is
``link_id|day|bot|referrer_host``.
Without Redis (or while it is down) the click is added to PostgreSQL directly,
so nothing is lost, only slower.

Flushing is crash-safe; the flusher may be killed at any instruction:
1. *seal*: a Lua script renames ``pending`` to ``batch:<uuid>`` and lists the id
   in ``snip:clicks:batches`` (atomic, so no click lands between the two);
2. *apply*: in ONE database transaction, insert the batch id into
   ``flushed_batches`` (primary key) and add every counter to ``click_stats``;
3. *forget*: delete the batch from Redis.
Killed before 2 commits: the batch is still in Redis and is applied next run.
Killed between 2 and 3: the id is in ``flushed_batches``, so the next run only
forgets it. Two flushers racing on one batch: the second insert of the id fails
and its transaction rolls back. Hence no click is lost and none counted twice.

Click keys never get a TTL, so a Redis with ``maxmemory-policy volatile-lru``
(or ``noeviction``) never evicts them.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import redis
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from snip.click_buffer import ClickBuffer
from snip.models import ClickStat, FlushedBatch, Link
from snip.redis_client import RedisGuard

log = logging.getLogger("snip.clicks")

PENDING = "snip:clicks:pending"
PENDING_SINCE = "snip:clicks:pending_since"
BATCHES = "snip:clicks:batches"
BATCH_SINCE = "snip:clicks:batch_since"
BATCH_PREFIX = "snip:clicks:batch:"
LAST_FLUSH = "snip:clicks:last_flush"
LAST_BATCH_SIZE = "snip:clicks:last_batch_size"
FLUSH_FAILURES = "snip:clicks:flush_failures"
TOTAL_FIELD = "__total__"  # clicks in the hash, moved with it atomically
ROWS_PER_STATEMENT = 1000
KEEP_FLUSHED_IDS = timedelta(days=7)

SEAL_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], redis.call('GET', KEYS[2]) or ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# One round trip, atomic: the click, the running total, and when the oldest began waiting.
RECORD_SCRIPT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('SET', KEYS[2], ARGV[3], 'NX')
return 1
"""

ClickKey = tuple[int, date, bool, str]


def click_field(link_id: int, day: date, bot: bool, referrer_host: str) -> str:
    # "|" cannot occur in a host name, so the field splits back unambiguously.
    return f"{link_id}|{day.isoformat()}|{int(bot)}|{referrer_host}"


def parse_field(field: str) -> ClickKey:
    link_id, day, bot, host = field.split("|", 3)
    return int(link_id), date.fromisoformat(day), bot == "1", host


# ---------------------------------------------------------------------- recording


def add_clicks(
    session: Session, counts: dict[ClickKey, int], skip_missing_links: bool = True
) -> int:
    """Add click counts to click_stats (an upsert). Returns the clicks written.

    The flusher skips counts of links purged since the click (they would break
    the whole batch on the foreign key); the direct path has just read the link.
    The caller owns the transaction.
    """
    if not counts:
        return 0
    existing = None
    if skip_missing_links:
        link_ids = {key[0] for key in counts}
        existing = set(session.scalars(select(Link.id).where(Link.id.in_(link_ids))))
    kept = {k: n for k, n in counts.items() if existing is None or k[0] in existing}
    rows = [
        {"link_id": k[0], "day": k[1], "is_bot": k[2], "referrer_host": k[3], "clicks": n}
        for k, n in kept.items()
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for chunk in _chunks(rows, ROWS_PER_STATEMENT):
        stmt = insert(ClickStat).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=["link_id", "day", "is_bot", "referrer_host"],
            set_={"clicks": ClickStat.clicks + stmt.excluded.clicks},
        )
        session.execute(stmt)
    return sum(kept.values())


def _chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class ClickRecorder:
    """Records one click: into Redis when it answers, else straight into the database.

    With a ClickBuffer, clicks are counted in memory first and pushed the same way
    in batches (see click_buffer.py for the trade-off).
    """

    def __init__(self, guard: RedisGuard, session_factory, app_context=None, buffer_seconds=0.0):
        self.guard = guard
        self.session_factory = session_factory
        self.app_context = app_context  # the buffer pushes from its own thread
        self._record = guard.client.register_script(RECORD_SCRIPT) if guard.client else None
        self.buffer = ClickBuffer(buffer_seconds, self.push) if buffer_seconds > 0 else None

    def record(self, link_id: int, bot: bool, referrer_host: str) -> str:
        """Returns where the click went: 'buffer', 'redis' or 'database'."""
        day = datetime.now(UTC).date()
        field = click_field(link_id, day, bot, referrer_host)
        if self.buffer is not None:
            self.buffer.add(field)
            return "buffer"
        client = self.guard.available()
        if client is not None and self._record is not None:
            try:
                self._record(keys=[PENDING, PENDING_SINCE], args=[field, TOTAL_FIELD, time.time()])
                return "redis"
            except redis.RedisError as exc:
                self.guard.failed(exc)
        session = self.session_factory()
        add_clicks(session, {(link_id, day, bot, referrer_host): 1}, skip_missing_links=False)
        session.commit()
        return "database"

    def push(self, counts: dict[str, int]) -> None:
        """Add many buffered counters at once: one Redis round trip, else the database."""
        client = self.guard.available()
        if client is not None:
            try:
                pipe = client.pipeline(transaction=True)
                for field, n in counts.items():
                    pipe.hincrby(PENDING, field, n)
                pipe.hincrby(PENDING, TOTAL_FIELD, sum(counts.values()))
                pipe.set(PENDING_SINCE, time.time(), nx=True)
                pipe.execute()
                return
            except redis.RedisError as exc:
                self.guard.failed(exc)
        with self.app_context():
            session = self.session_factory()
            add_clicks(session, {parse_field(f): n for f, n in counts.items()})
            session.commit()

    def flush_buffer(self) -> None:
        if self.buffer is not None:
            self.buffer.flush()


# ----------------------------------------------------------------------- flushing


class ClickFlusher:
    def __init__(self, client: redis.Redis, session_factory) -> None:
        self.client = client
        self.session_factory = session_factory
        self._seal = client.register_script(SEAL_SCRIPT)

    def seal(self) -> str | None:
        """Turn the pending clicks into a new batch; None when there are none."""
        batch_id = uuid.uuid4().hex
        sealed = self._seal(
            keys=[PENDING, PENDING_SINCE, BATCH_PREFIX + batch_id, BATCHES, BATCH_SINCE],
            args=[batch_id, time.time()],
        )
        return batch_id if sealed else None

    def read_batch(self, batch_id: str) -> dict[ClickKey, int]:
        counts: dict[ClickKey, int] = {}
        for raw_field, raw_count in self.client.hscan_iter(BATCH_PREFIX + batch_id, count=1000):
            field = raw_field.decode()
            if field != TOTAL_FIELD:
                counts[parse_field(field)] = int(raw_count)
        return counts

    def apply(self, batch_id: str, counts: dict[ClickKey, int]) -> int | None:
        """Write a batch in one transaction; returns clicks written, None if already written."""
        session = self.session_factory()
        try:
            if session.get(FlushedBatch, batch_id) is not None:
                return None
            record = FlushedBatch(batch_id=batch_id, clicks=0)
            session.add(record)
            session.flush()  # a racing flusher fails here, on the primary key
            record.clicks = add_clicks(session, counts)
            session.commit()
            return record.clicks
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def forget(self, batch_id: str, clicks: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(BATCH_PREFIX + batch_id)
        pipe.srem(BATCHES, batch_id)
        pipe.hdel(BATCH_SINCE, batch_id)
        pipe.set(LAST_FLUSH, time.time())
        pipe.set(LAST_BATCH_SIZE, clicks)
        pipe.execute()

    def flush_once(self) -> int:
        """Seal pending clicks and write every batch in Redis; returns clicks written."""
        try:
            self.seal()
            written = 0
            for raw_id in sorted(self.client.smembers(BATCHES)):  # type: ignore[arg-type]
                batch_id = raw_id.decode()  # type: ignore[union-attr]
                applied = self.apply(batch_id, self.read_batch(batch_id))
                written += applied or 0
                self.forget(batch_id, applied or 0)
            # Also when there was nothing to do: "last success" means the flusher runs.
            self.client.set(LAST_FLUSH, time.time())
            self.prune_flushed_ids()
            return written
        except Exception:
            with contextlib.suppress(redis.RedisError):  # Redis may be the failure
                self.client.incr(FLUSH_FAILURES)
            raise

    def prune_flushed_ids(self) -> None:
        session = self.session_factory()
        try:
            cutoff = datetime.now(UTC) - KEEP_FLUSHED_IDS
            session.execute(delete(FlushedBatch).where(FlushedBatch.flushed_at < cutoff))
            session.commit()
        finally:
            session.close()


# ------------------------------------------------------------------ for /metrics


def backlog(client: redis.Redis) -> tuple[int, float]:
    """(clicks waiting, age in seconds of the oldest of them) across pending and batches."""
    pipe = client.pipeline(transaction=False)
    pipe.hget(PENDING, TOTAL_FIELD)
    pipe.get(PENDING_SINCE)
    pipe.smembers(BATCHES)
    pipe.hvals(BATCH_SINCE)
    pending_total, pending_since, batch_ids, batch_since = pipe.execute()
    waiting = int(pending_total or 0)
    for raw_id in batch_ids:
        waiting += int(client.hget(BATCH_PREFIX + raw_id.decode(), TOTAL_FIELD) or 0)
    times = [float(t) for t in [pending_since, *batch_since] if t is not None]
    lag = max(0.0, time.time() - min(times)) if times and waiting else 0.0
    return waiting, lag
