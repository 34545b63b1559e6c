"""Clicks: appended to a local log on the redirect path, shipped to the database in batches.

Recording (the request thread): the country is looked up (the address goes no
further), and one line is appended to this worker's click log (clicklog.py): no
network round trip, and once the write returns the click survives a SIGKILL.

Shipping (a thread in each worker, ``ClickShipper``): every SHIP_INTERVAL seconds
it reads the new complete lines of its own segment, derives the dimensions
(analytics.py), adds them up, and writes them in ONE transaction that also moves
the segment's ledger row (click_segments) from the batch's first byte to its end,
on condition that it still points at the first byte. So:
- killed before the commit: the ledger did not move; the lines are shipped again
  by whoever ships the segment next (this worker's successor adopts it);
- killed after the commit: the ledger moved; nobody ships those bytes again;
- two shippers on one segment (a successor and ``snip clicks flush``): the second
  compare-and-set finds the ledger moved and rolls its transaction back.
Hence no click answered is lost and none is counted twice. A segment whose writer
is gone (its flock is free) is adopted, shipped to its end, then deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from snip import clicklog, metrics
from snip.analytics import DIMENSIONS, CountryLookup, classify
from snip.models import ClickDaily, ClickHourly, ClickSegment, Link

log = logging.getLogger("snip.clicks")

SHIP_INTERVAL = 1.0  # seconds between shipments: how late a click reaches the stats
BATCH_BYTES = 4 * 1024 * 1024  # at most ~4 MB of log (about 25,000 clicks) per transaction
MAX_USER_AGENT = 400  # longer agents are cut; enough for every uap-core rule
KEEP_LEDGER = timedelta(days=30)  # a segment's row outlives its file by far
ROWS_PER_STATEMENT = 1000
_CLEAN = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
PRIVATE_FLAG = "p"

CountKey = tuple[int, int, str, str, bool]  # link id, hour (unix s), dimension, value, bot


def encode(
    ts: float, link_id: int, private: bool, country: str, referrer: str, user_agent: str
) -> bytes:
    """One click as one log line (tab-separated; tabs and newlines in values become spaces)."""
    if private:  # DNT / Sec-GPC: count the click, keep nothing about the visitor
        return f"{int(ts)}\t{link_id}\t{PRIVATE_FLAG}\t\t\t\n".encode()
    agent = user_agent[:MAX_USER_AGENT].translate(_CLEAN)
    return f"{int(ts)}\t{link_id}\t-\t{country}\t{referrer.translate(_CLEAN)}\t{agent}\n".encode(
        "utf-8", "replace"
    )


class ClickRecorder:
    """The request side: turn one answered redirect into one log line."""

    def __init__(self, click_log: clicklog.ClickLog, countries: CountryLookup | None) -> None:
        self.log = click_log
        self.countries = countries
        self.on_first_click: Callable[[], None] | None = None  # starts the shipper lazily

    def record(
        self,
        link_id: int,
        user_agent: str,
        address: str | None,
        referrer_host: str,
        private: bool,
    ) -> None:
        country = "" if private or self.countries is None else self.countries.country(address)
        self.log.append(encode(time.time(), link_id, private, country, referrer_host, user_agent))
        if self.on_first_click is not None:
            start, self.on_first_click = self.on_first_click, None
            start()


# ----------------------------------------------------------------------- shipping


def count_lines(lines: Iterable[bytes]) -> tuple[Counter[CountKey], int]:
    """Add up log lines into (link, hour, dimension, value, bot) counters.

    Lines that differ only in their second are counted together first (one dict
    increment per line, in C): most clicks repeat a link, agent and referrer, so the
    decoding and the dimension work below run once per distinct line, not per click.
    """
    distinct: Counter[tuple[int, bytes]] = Counter()
    for raw in lines:
        ts, _, rest = raw.partition(b"\t")
        try:
            distinct[(int(ts) // 3600 * 3600, rest)] += 1
        except ValueError:
            log.warning("skipping a malformed click log line: %r", raw[:200])
    counts: Counter[CountKey] = Counter()
    clicks = 0
    for (hour, rest), n in distinct.items():
        try:
            link_id, flags, country, referrer, agent = rest.decode("utf-8", "replace").split(
                "\t", 4
            )
            link = int(link_id)
        except ValueError:
            log.warning("skipping %d malformed click log lines: %r", n, rest[:200])
            continue
        clicks += n
        if flags == PRIVATE_FLAG:
            # No agent was kept, so bot or not is unknown: it counts as a human visit.
            bot, values = False, ("", "", "", "", "")
        else:
            a = classify(agent)
            bot, values = a.bot, (country, a.browser, a.os, a.device, referrer)
        counts[(link, hour, "all", "", bot)] += n
        for dimension, value in zip(DIMENSIONS, values, strict=True):
            counts[(link, hour, dimension, value, bot)] += n
    return counts, clicks


def _insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


COLUMNS = ("link_id", "{period}", "dimension", "value", "is_bot", "clicks")


def _upsert(conn: Connection, table, period: str, rows: list[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _upsert_by_copy(conn, table.__tablename__, period, rows)
        return
    stmt = _insert(conn)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["link_id", period, "dimension", "value", "is_bot"],
        set_={"clicks": table.clicks + stmt.excluded.clicks},
    )
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        conn.execute(stmt, rows[start : start + ROWS_PER_STATEMENT])


def _upsert_by_copy(conn: Connection, table: str, period: str, rows: list[dict]) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... SELECT.

    Several times faster than multi-row INSERTs (no SQL to build and parse per row),
    in the same transaction. ORDER BY keeps the lock order of every shipper the same.
    """
    columns = ", ".join(c.format(period=period) for c in COLUMNS)
    key = f"link_id, {period}, dimension, value, is_bot"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS incoming_{table} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY incoming_{table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c.format(period=period)] for c in COLUMNS])
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming_{table} "
            f"ORDER BY {key} ON CONFLICT ({key}) DO UPDATE "
            f"SET clicks = {table}.clicks + EXCLUDED.clicks"
        )


def add_counts(conn: Connection, counts: Counter[CountKey]) -> None:
    """Upsert counts into click_hourly and click_daily, skipping links purged since.

    Daily rows are written too (not derived from hourly ones), so day-level stats
    read one table and outlive the hourly retention. Rows go in primary-key order,
    so two shippers updating the same rows lock them in the same order: no deadlock.
    """
    link_ids = {key[0] for key in counts}
    existing = set(conn.scalars(select(Link.id).where(Link.id.in_(link_ids))))
    hourly: list[dict] = []
    daily: Counter[tuple] = Counter()
    for (link, hour, dimension, value, bot), n in sorted(counts.items()):
        if link not in existing:
            continue
        at = datetime.fromtimestamp(hour, UTC)
        hourly.append(
            {"link_id": link, "hour": at, "dimension": dimension, "value": value,
             "is_bot": bot, "clicks": n}
        )  # fmt: skip
        daily[(link, at.date(), dimension, value, bot)] += n
    _upsert(conn, ClickHourly, "hour", hourly)
    daily_rows = [
        dict(zip(("link_id", "day", "dimension", "value", "is_bot"), key, strict=True), clicks=n)
        for key, n in sorted(daily.items())
    ]
    _upsert(conn, ClickDaily, "day", daily_rows)


def claim_range(conn: Connection, segment: str, start: int, end: int, clicks: int) -> bool:
    """Move the segment's ledger from start to end; False if someone else shipped it."""
    if start == 0:
        stmt = (
            _insert(conn)(ClickSegment)
            .values(
                segment=segment,
                shipped_bytes=end,
                clicks=clicks,
                last_batch_clicks=clicks,
                updated_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["segment"])
        )
    else:
        stmt = (
            update(ClickSegment)
            .where(ClickSegment.segment == segment, ClickSegment.shipped_bytes == start)
            .values(
                shipped_bytes=end,
                clicks=ClickSegment.clicks + clicks,
                last_batch_clicks=clicks,
                updated_at=datetime.now(UTC),
            )
        )
    # RETURNING, not rowcount: drivers report -1 for an INSERT ... ON CONFLICT.
    return conn.execute(stmt.returning(ClickSegment.segment)).first() is not None


def shipped_bytes(conn: Connection, segment: str) -> int:
    return int(
        conn.scalar(select(ClickSegment.shipped_bytes).where(ClickSegment.segment == segment)) or 0
    )


class ClickShipper:
    """Moves clicks from the log directory into the database; one per process."""

    def __init__(
        self,
        click_log: clicklog.ClickLog,
        engine: Callable[[], Engine],
        interval: float = SHIP_INTERVAL,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.log = click_log
        self.directory = click_log.directory
        self._engine = engine
        self.interval = interval
        self.batch_bytes = batch_bytes
        self._lock = threading.Lock()  # one shipment at a time in this process
        self._started_in: int | None = None
        self._stop = threading.Event()

    def ship_segment(self, name: str, own: bool) -> int:
        """Ship a segment's complete lines to its current end; returns clicks written."""
        path = self.directory / name
        written = 0
        with self._engine().connect() as conn:
            start = shipped_bytes(conn, name)
            conn.rollback()
            while True:
                lines, end = clicklog.read_lines(path, start, self.batch_bytes)
                if end == start:
                    break
                counts, clicks = count_lines(lines)
                with conn.begin():
                    if conn.dialect.name == "postgresql":  # names us in pg_stat_activity
                        conn.exec_driver_sql(
                            f"SET LOCAL application_name = 'snip-shipper:{os.getpid()}'"
                        )
                    if not claim_range(conn, name, start, end, clicks):
                        conn.rollback()
                        log.info("segment %s was shipped by someone else from byte %d", name, start)
                        return written
                    add_counts(conn, counts)
                written += clicks
                start = end
        if not own:
            torn = clicklog.size(path) - start
            if torn:
                # The writer died inside write(): that redirect was never answered.
                log.warning("segment %s ends in %d bytes of an unfinished line", name, torn)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return written

    def ship_once(self) -> int:
        """Ship this process's segment and adopt every orphaned one; returns clicks."""
        with self._lock:
            written = 0
            own = self.log.segment
            if own is not None:
                written += self.ship_segment(own, own=True)
                if clicklog.size(self.directory / own) >= clicklog.ROTATE_BYTES:
                    self.log.close()  # becomes an orphan: adopted and deleted below
                    own = None
            for name in clicklog.segments(self.directory):
                if name == own:
                    continue
                with clicklog.adopt(self.directory, name) as orphan:
                    if orphan:
                        written += self.ship_segment(name, own=False)
            return written

    def drain(self) -> int:
        """Graceful stop: close our segment, then ship it and every orphan to the end."""
        self._stop.set()
        self.log.close()
        try:
            return self.ship_once()
        except Exception:
            log.exception("could not ship the click log at exit; the next start ships it")
            return 0

    def start(self) -> None:
        """Start the shipping thread in this process (idempotent, fork-aware)."""
        if self._started_in == os.getpid():
            return
        self._started_in = os.getpid()
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="snip-click-shipper", daemon=True).start()
        atexit.register(self.drain)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.ship_once()
            except Exception as exc:
                metrics.CLICK_FLUSH_FAILURES.inc()
                log.warning("click shipping failed, retrying in %.0fs: %s", self.interval, exc)


# ------------------------------------------------------------------- maintenance


def prune_hourly(conn: Connection, retention_days: int, now: datetime | None = None) -> int:
    """Delete hourly rows older than the retention (the daily rows keep their clicks).

    The cut is at a UTC midnight. Returns the rows deleted.
    """
    now = now or datetime.now(UTC)
    cutoff = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=retention_days)
    return conn.execute(delete(ClickHourly).where(ClickHourly.hour < cutoff)).rowcount  # type: ignore[attr-defined]


def prune_ledger(conn: Connection) -> None:
    conn.execute(
        delete(ClickSegment).where(ClickSegment.updated_at < datetime.now(UTC) - KEEP_LEDGER)
    )


# ------------------------------------------------------------------ for /metrics


def backlog(directory: Path, conn: Connection) -> tuple[int, float]:
    """(clicks in this host's log not yet in the database, age of the oldest in seconds)."""
    names = clicklog.segments(directory)
    if not names:
        return 0, 0.0
    done = dict(
        conn.execute(
            select(ClickSegment.segment, ClickSegment.shipped_bytes).where(
                ClickSegment.segment.in_(names)
            )
        ).all()
    )
    waiting, oldest = 0, None
    for name in names:
        lines, _ = clicklog.read_lines(directory / name, int(done.get(name, 0)), 64 * 1024 * 1024)
        waiting += len(lines)
        if lines and oldest is None:
            with contextlib.suppress(ValueError):
                oldest = int(lines[0].split(b"\t", 1)[0])
    lag = max(0.0, time.time() - oldest) if oldest is not None else 0.0
    return waiting, lag


def last_shipment(conn: Connection) -> tuple[float | None, int]:
    """(unix time of the newest shipment anywhere, clicks it moved)."""
    row = conn.execute(
        select(ClickSegment.updated_at, ClickSegment.last_batch_clicks)
        .order_by(ClickSegment.updated_at.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None, 0
    stamp = row[0] if row[0].tzinfo else row[0].replace(tzinfo=UTC)
    return stamp.timestamp(), int(row[1])


def total_clicks(conn: Connection) -> int:
    """Every click in the aggregates, for tests and the CLI."""
    return int(
        conn.scalar(
            select(func.coalesce(func.sum(ClickDaily.clicks), 0)).where(
                ClickDaily.dimension == "all"
            )
        )
        or 0
    )
