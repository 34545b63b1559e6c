"""Draining click counters an older release left in Redis (upgrade path only).

Releases before the click log counted clicks in the Redis hash
``snip:clicks:pending``. During a rolling update old pods still write there, so
``snip clicks flush`` keeps moving those counters into click_daily, with the old
crash-safe protocol (the flusher may be killed at any instruction):
1. *seal*: a Lua script renames ``pending`` to ``batch:<uuid>`` and lists the id
   in ``snip:clicks:batches`` (atomic, so no click lands between the two);
2. *apply*: in ONE database transaction, insert the batch id into
   ``flushed_batches`` (primary key) and add every counter to the daily counts;
3. *forget*: delete the batch from Redis.
Killed before 2 commits: the batch is still in Redis and is applied next run.
Killed between 2 and 3: the id is in ``flushed_batches``, so the next run only
forgets it. Two flushers racing on one batch: the second insert of the id fails.
Once no release older than the click log runs, these keys stay empty.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import redis
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from snip.models import ClickDaily, FlushedBatch, Link

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

ClickKey = tuple[int, date, bool, str]


def click_field(link_id: int, day: date, bot: bool, referrer_host: str) -> str:
    # "|" cannot occur in a host name, so the field splits back unambiguously.
    return f"{link_id}|{day.isoformat()}|{int(bot)}|{referrer_host}"


def parse_field(field: str) -> ClickKey:
    link_id, day, bot, host = field.split("|", 3)
    return int(link_id), date.fromisoformat(day), bot == "1", host


# ------------------------------------------------------------------- applying


def add_clicks(session: Session, counts: dict[ClickKey, int]) -> int:
    """Add old-format counters (link, day, bot, referrer) to click_daily. Returns clicks.

    Counters of links purged since the click are skipped (they would break the whole
    batch on the foreign key). Country, browser, OS and device were not recorded by
    that release: they count under "" (unknown). The caller owns the transaction.
    """
    if not counts:
        return 0
    link_ids = {key[0] for key in counts}
    existing = set(session.scalars(select(Link.id).where(Link.id.in_(link_ids))))
    rows: Counter[tuple] = Counter()
    for (link_id, day, bot, host), n in counts.items():
        if link_id not in existing:
            continue
        rows[(link_id, day, "all", "", bot)] += n
        rows[(link_id, day, "referrer", host, bot)] += n
        for dimension in ("country", "browser", "os", "device"):
            rows[(link_id, day, dimension, "", bot)] += n
    values = [
        {
            "link_id": k[0],
            "day": k[1],
            "dimension": k[2],
            "value": k[3],
            "is_bot": k[4],
            "clicks": n,
        }
        for k, n in sorted(rows.items())
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for chunk in _chunks(values, ROWS_PER_STATEMENT):
        stmt = insert(ClickDaily).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=["link_id", "day", "dimension", "value", "is_bot"],
            set_={"clicks": ClickDaily.clicks + stmt.excluded.clicks},
        )
        session.execute(stmt)
    return sum(n for k, n in rows.items() if k[2] == "all")


def _chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


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
