"""Click statistics of one link: all-time totals, per-day series and top referrers.

Counts include every click flushed so far (the flusher runs every few seconds).
Days are UTC dates, as the flusher stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from snip.extensions import db
from snip.models import ClickDaily, Link
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
    }
