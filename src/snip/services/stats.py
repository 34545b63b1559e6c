"""Click statistics of one link: totals, series per hour or day in a time zone,
breakdowns by every dimension (country, browser, os, device, referrer), CSV export.

Counts include every click shipped so far (each worker ships about every second).
Days are UTC dates unless a time zone is asked for.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, select

from snip.analytics import DIMENSIONS
from snip.extensions import db
from snip.models import ClickDaily, ClickHourly, Link
from snip.services.errors import Invalid

FIRST_DAY = date(2000, 1, 1)  # stats cover days snip can have seen
LAST_DAY = date(9998, 12, 31)  # bounds also keep date arithmetic in range
DEFAULT_DAYS = 30
MAX_STATS_DAYS = 366
TOP_REFERRERS = 10


@dataclass(frozen=True)
class Totals:
    humans: int
    bots: int

    @property
    def total(self) -> int:
        return self.humans + self.bots


def date_range(
    first: date | None, last: date | None, *, today: date | None = None
) -> tuple[date, date]:
    """The range asked for, with defaults (the 30 days up to today); Invalid if unusable."""
    last = last if last is not None else (today or datetime.now(UTC).date())
    if first is None:
        first = max(last - timedelta(days=DEFAULT_DAYS - 1), FIRST_DAY)
    if first > last:
        raise Invalid("from", "must not be after 'to'")
    if (last - first).days >= MAX_STATS_DAYS:
        raise Invalid("from", f"a range covers at most {MAX_STATS_DAYS} days")
    return first, last


def totals(link: Link) -> Totals:
    """Every click of the link ever flushed, humans and bots apart."""
    by_bot = dict(
        db.session.execute(
            select(ClickDaily.is_bot, func.sum(ClickDaily.clicks))
            .where(ClickDaily.link_id == link.id, ClickDaily.dimension == "all")
            .group_by(ClickDaily.is_bot)
        ).all()
    )
    return Totals(humans=int(by_bot.get(False) or 0), bots=int(by_bot.get(True) or 0))


def daily(link: Link, first: date, last: date) -> list[dict]:
    """[{"date", "humans", "bots"}] for the days in [first, last] that had clicks, in order."""
    days: dict[date, dict] = {}
    for day, bot, clicks in db.session.execute(
        select(ClickDaily.day, ClickDaily.is_bot, func.sum(ClickDaily.clicks))
        .where(
            ClickDaily.link_id == link.id,
            ClickDaily.dimension == "all",
            ClickDaily.day.between(first, last),
        )
        .group_by(ClickDaily.day, ClickDaily.is_bot)
    ):
        entry = days.setdefault(day, {"date": day, "humans": 0, "bots": 0})
        entry["bots" if bot else "humans"] += int(clicks)
    return [days[d] for d in sorted(days)]


def top_referrers(link: Link, first: date, last: date, limit: int = TOP_REFERRERS) -> list[dict]:
    """[{"host", "clicks"}], most clicks first; direct visits show as "(direct)"."""
    rows = db.session.execute(
        select(ClickDaily.value, func.sum(ClickDaily.clicks).label("n"))
        .where(
            ClickDaily.link_id == link.id,
            ClickDaily.dimension == "referrer",
            ClickDaily.day.between(first, last),
        )
        .group_by(ClickDaily.value)
        .order_by(func.sum(ClickDaily.clicks).desc(), ClickDaily.value)
        .limit(limit)
    )
    return [{"host": host or "(direct)", "clicks": int(n)} for host, n in rows]


def link_stats(link: Link, *, first: date | None = None, last: date | None = None) -> dict:
    """Everything GET /api/v1/links/<slug>/stats answers (``from_`` is the first day)."""
    first, last = date_range(first, last)
    all_time = totals(link)
    return {
        "slug": link.slug,
        "total": all_time.total,
        "humans": all_time.humans,
        "bots": all_time.bots,
        "from_": first,
        "to": last,
        "daily": daily(link, first, last),
        "top_referrers": top_referrers(link, first, last),
        "breakdowns": breakdowns(link, first=first, last=last),
    }


# ----------------------------------------------------- series, breakdowns, export

INTERVALS = ("hour", "day")
MAX_HOURLY_DAYS = 31  # an hourly series of at most 744 points
DEFAULT_BREAKDOWN = 50


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone asked for (default UTC); Invalid names the field."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(
            "tz", f"unknown time zone {name!r}; use an IANA name like Europe/Paris"
        ) from None


def hourly_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    """The oldest hour still kept per hour (see clicks.prune_hourly)."""
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=retention_days)


def series(
    link: Link,
    *,
    first: date,
    last: date,
    interval: str = "day",
    tz: str | None = None,
    retention_days: int,
) -> list[dict]:
    """Clicks per hour or per day in the time zone ``tz``, for the local days [first, last].

    [{"start": aware datetime in tz, "humans": n, "bots": n}], only periods with clicks,
    in order. Hours are UTC hours shown in local time (in a zone with a half-hour
    offset they start at :30). Per-hour counts are kept ``retention_days``: a local day
    before that comes from the UTC per-day counts (exact only in UTC).
    """
    if interval not in INTERVALS:
        raise Invalid("interval", "must be 'hour' or 'day'")
    where = zone(tz)
    cutoff = hourly_cutoff(retention_days)
    if interval == "hour" and (last - first).days >= MAX_HOURLY_DAYS:
        raise Invalid("from", f"an hourly series covers at most {MAX_HOURLY_DAYS} days")
    start = datetime.combine(first, time.min, where).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, where).astimezone(UTC)
    if interval == "hour" and start < cutoff:
        raise Invalid("from", f"hourly counts are kept {retention_days} days; ask per day")

    points: dict[datetime | date, dict] = {}

    def add(key, bot: bool, clicks: int) -> None:
        entry = points.setdefault(key, {"start": key, "humans": 0, "bots": 0})
        entry["bots" if bot else "humans"] += int(clicks)

    if interval == "day" and where.key == "UTC":
        for day, bot, clicks in _daily_all(link, first, last):
            add(day, bot, clicks)
    else:
        hourly_from = max(start, cutoff)
        for hour, bot, clicks in db.session.execute(
            select(ClickHourly.hour, ClickHourly.is_bot, ClickHourly.clicks).where(
                ClickHourly.link_id == link.id,
                ClickHourly.dimension == "all",
                ClickHourly.hour >= hourly_from,
                ClickHourly.hour < end,
            )
        ):
            local = (hour if hour.tzinfo else hour.replace(tzinfo=UTC)).astimezone(where)
            add(local if interval == "hour" else local.date(), bot, clicks)
        if interval == "day" and start < cutoff:  # older days: UTC days, not local ones
            for day, bot, clicks in _daily_all(link, first, min(last, cutoff.date())):
                if day < cutoff.date():
                    add(day, bot, clicks)
    ordered = [points[k] for k in sorted(points, key=_sort_key)]
    for entry in ordered:
        if not isinstance(entry["start"], datetime):  # a day: its local midnight
            entry["start"] = datetime.combine(entry["start"], time.min, where)
    return ordered


def _sort_key(key: datetime | date) -> datetime:
    return key if isinstance(key, datetime) else datetime.combine(key, time.min, UTC)


def _daily_all(link: Link, first: date, last: date):
    return db.session.execute(
        select(ClickDaily.day, ClickDaily.is_bot, func.sum(ClickDaily.clicks))
        .where(
            ClickDaily.link_id == link.id,
            ClickDaily.dimension == "all",
            ClickDaily.day.between(first, last),
        )
        .group_by(ClickDaily.day, ClickDaily.is_bot)
    )


def breakdown(
    link: Link, dimension: str, *, first: date, last: date, limit: int = DEFAULT_BREAKDOWN
) -> list[dict]:
    """[{"value", "humans", "bots", "clicks"}] for one dimension over UTC days, most first.

    ``value`` "" is unknown: no referrer (a direct visit), a private or unknown address,
    or a visitor who sent DNT / Sec-GPC.
    """
    if dimension not in DIMENSIONS:
        raise Invalid("dimension", f"must be one of {', '.join(DIMENSIONS)}")
    humans = func.sum(case((ClickDaily.is_bot.is_(False), ClickDaily.clicks), else_=0))
    bots = func.sum(case((ClickDaily.is_bot.is_(True), ClickDaily.clicks), else_=0))
    total = func.sum(ClickDaily.clicks)
    rows = db.session.execute(
        select(ClickDaily.value, humans, bots, total)
        .where(
            ClickDaily.link_id == link.id,
            ClickDaily.dimension == dimension,
            ClickDaily.day.between(first, last),
        )
        .group_by(ClickDaily.value)
        .order_by(total.desc(), ClickDaily.value)
        .limit(limit)
    )
    return [
        {"value": value, "humans": int(h), "bots": int(b), "clicks": int(n)}
        for value, h, b, n in rows
    ]


def breakdowns(link: Link, *, first: date, last: date, limit: int = TOP_REFERRERS) -> dict:
    """Every dimension's top values: {"country": [...], "browser": [...], ...}."""
    return {d: breakdown(link, d, first=first, last=last, limit=limit) for d in DIMENSIONS}


def _cell(value: object) -> object:
    # A spreadsheet runs a cell starting with = + - @ as a formula; referrer hosts
    # come from visitors, so such a cell is quoted (OWASP "CSV injection").
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as CSV text with a header line (RFC 4180, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        value = [row[c].isoformat() if hasattr(row[c], "isoformat") else row[c] for c in columns]
        writer.writerow([_cell(v) for v in value])
    return out.getvalue()
