"""The dashboard's link table: filter, search, sort, paginate, with click counts and status.

Read-only queries over the links an actor may see (snip.access); the changes
themselves go through snip.services.links like the API's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from math import ceil
from typing import Any

from sqlalchemy import func, select

from snip.access import visible_links
from snip.extensions import db
from snip.models import ClickDaily, Link, Tag, as_utc
from snip.services import links as link_service
from snip.services.actor import Actor
from snip.services.errors import NotFound

STATUS_CHOICES = [
    ("live", "not deleted"),
    ("active", "active"),
    ("expired", "expired"),
    ("used-up", "used up"),
    ("deleted", "deleted"),
    ("all", "all, deleted too"),
]
SORT_CHOICES = [
    ("newest", "newest first"),
    ("oldest", "oldest first"),
    ("clicks", "most clicks"),
    ("slug", "slug A to Z"),
    ("expiry", "expiring soonest"),
]


@dataclass(frozen=True)
class Filters:
    q: str = ""
    tag: str = ""
    status: str = "live"
    sort: str = "newest"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        status = args.get("status", "live")
        sort = args.get("sort", "newest")
        return cls(
            q=args.get("q", "").strip()[:200],
            tag=args.get("tag", "").strip()[:32],
            status=status if status in dict(STATUS_CHOICES) else "live",
            sort=sort if sort in dict(SORT_CHOICES) else "newest",
        )

    def as_args(self) -> dict[str, str]:
        return {"q": self.q, "tag": self.tag, "status": self.status, "sort": self.sort}


@dataclass(frozen=True)
class Row:
    link: Link
    clicks: int
    status: str
    short_url: str


@dataclass(frozen=True)
class Page:
    items: list[Row]
    number: int
    pages: int
    total: int


def status_of(link: Link, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if link.deleted_at is not None:
        return "deleted"
    expires = as_utc(link.expires_at)
    if expires is not None and expires <= now:
        return "expired"
    if link.max_clicks is not None and link.use_count >= link.max_clicks:
        return "used up"
    return "active"


def _status_condition(status: str, now: datetime):
    live = Link.deleted_at.is_(None)
    not_expired = Link.expires_at.is_(None) | (Link.expires_at > now)
    uses_left = Link.max_clicks.is_(None) | (Link.use_count < Link.max_clicks)
    return {
        "live": live,
        "active": live & not_expired & uses_left,
        "expired": live & Link.expires_at.is_not(None) & (Link.expires_at <= now),
        "used-up": live & not_expired & ~uses_left,
        "deleted": Link.deleted_at.is_not(None),
        "all": None,
    }[status]


def click_totals():
    """Clicks per link (all time), as a subquery to join and sort on."""
    return (
        select(ClickDaily.link_id, func.sum(ClickDaily.clicks).label("clicks"))
        .where(ClickDaily.dimension == "all")
        .group_by(ClickDaily.link_id)
        .subquery()
    )


def page(filters: Filters, actor: Actor, *, number: int = 1, size: int = 20) -> Page:
    now = datetime.now(UTC)
    totals = click_totals()
    clicks = func.coalesce(totals.c.clicks, 0)
    stmt = visible_links(
        select(Link, clicks).outerjoin(totals, totals.c.link_id == Link.id), actor.user
    )
    condition = _status_condition(filters.status, now)
    if condition is not None:
        stmt = stmt.where(condition)
    if filters.q:
        stmt = stmt.where(
            Link.slug.icontains(filters.q, autoescape=True)
            | Link.url.icontains(filters.q, autoescape=True)
        )
    if filters.tag:
        stmt = stmt.where(Link.tags.any(Tag.name == filters.tag))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order: dict[str, Any] = {
        "newest": [Link.id.desc()],
        "oldest": [Link.id.asc()],
        "clicks": [clicks.desc(), Link.id.desc()],
        "slug": [Link.slug.asc()],
        "expiry": [Link.expires_at.is_(None), Link.expires_at.asc(), Link.id.desc()],
    }
    pages = max(1, ceil(total / size))
    number = min(number, pages)
    rows = db.session.execute(
        stmt.order_by(*order[filters.sort]).limit(size).offset((number - 1) * size)
    ).all()
    items = [
        Row(link, int(count), status_of(link, now), link_service.short_url(link))
        for link, count in rows
    ]
    return Page(items=items, number=number, pages=pages, total=total)


def tag_names(actor: Actor) -> list[str]:
    """Tags used by links the actor can see, for the filter menu."""
    stmt = visible_links(
        select(Tag.name).join(Link.tags).where(Link.deleted_at.is_(None)), actor.user
    )
    return sorted(set(db.session.scalars(stmt)))


def get_for(slug: str, actor: Actor, *, deleted_ok: bool = False) -> Link:
    """A link the actor may manage (a deleted one too, if asked); NotFound otherwise."""
    link = db.session.scalar(visible_links(select(Link).where(Link.slug == slug), actor.user))
    if link is None or (link.deleted_at is not None and not deleted_ok):
        raise NotFound(f"no link with slug '{slug}'")
    return link


def _minute(value: datetime | None) -> datetime | None:
    return value.replace(second=0, microsecond=0) if value else None


def changes_from_form(link: Link, **fields: Any) -> dict[str, Any]:
    """Only what differs from the link: an unchanged past expiry is not re-checked."""
    current: dict[str, Any] = {
        "url": link.url,
        "tags": link.tag_names,
        "expires_at": as_utc(link.expires_at),
        "max_clicks": link.max_clicks,
        "redirect_status": link.redirect_status,
    }
    changes = {}
    for name, value in fields.items():
        old = current[name]
        if name == "tags":
            if sorted(set(value)) != sorted(old):
                changes[name] = value
        elif name == "expires_at":
            # The form has minute precision; compare at that precision.
            if _minute(value) != _minute(old):
                changes[name] = value
        elif value != old:
            changes[name] = value
    return changes
