"""API v1 links: create, list, read, change, delete, and read click statistics.

Deleted links keep their row and their slug: a slug once printed on a poster
must never start sending people somewhere else, so it is never reused.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import UTC, date, datetime, timedelta

from flask import g, request
from flask_smorest import Blueprint
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from snip import metrics
from snip.auth import anonymous_create_allowed, hash_key, require
from snip.cache import CachedLink
from snip.errors import Problem
from snip.extensions import db, limiter
from snip.models import ClickStat, Link, Tag, as_utc
from snip.net import client_address
from snip.schemas import (
    FIRST_DAY,
    LinkCreate,
    LinkListQuery,
    LinkOut,
    LinkPage,
    LinkStats,
    LinkUpdate,
    StatsQuery,
)
from snip.state import state
from snip.validation import SLUG_PATTERN, slug_problem, url_problem

blp = Blueprint("links", __name__, url_prefix="/api/v1/links", description="Short links")

SLUG_ALPHABET = string.ascii_letters + string.digits
GENERATED_SLUG_LENGTH = 7  # 62**7 = 3.5e12 slugs: collisions stay rare far past 1e6 links
MAX_STATS_DAYS = 366
TOP_REFERRERS = 10


def write_limit() -> str:
    return state().settings.rate_limit_writes


def api_key_bucket() -> str:
    """Rate-limit bucket of the caller's key (hashed; the key never reaches Redis)."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return "key:" + hash_key(token)[:16] if token else "anonymous:" + client_address()


def invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "The request has invalid fields; see errors.",
        kind="validation-error",
        errors=[{"field": field, "message": message}],
    )


def link_view(link: Link) -> dict:
    return {
        "slug": link.slug,
        "short_url": f"{state().settings.base_url}/{link.slug}",
        "url": link.url,
        "redirect_status": link.redirect_status,
        "expires_at": as_utc(link.expires_at),
        "max_clicks": link.max_clicks,
        "tags": link.tag_names,
        "created_at": as_utc(link.created_at),
        "updated_at": as_utc(link.updated_at),
    }


def check_url(url: str) -> None:
    settings = state().settings
    problem = url_problem(url, settings.base_host, settings.blocked_hosts)
    if problem:
        raise invalid("url", problem)


def check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    try:
        past = expires_at <= datetime.now(UTC)
    except OverflowError:  # e.g. year 1 with a +14:00 offset: before the year 1 in UTC
        past = True
    if past:
        raise invalid("expires_at", "must be in the future")
    if expires_at.year >= 9000:
        raise invalid("expires_at", "must be before the year 9000; omit it for a permanent link")


def find_tags(names: list[str]) -> list[Tag]:
    """Existing tags by name, creating the missing ones (safe against a racing creator)."""
    tags = []
    for name in sorted(set(names)):
        tag = db.session.scalar(select(Tag).where(Tag.name == name))
        if tag is None:
            try:
                with db.session.begin_nested():
                    tag = Tag(name=name)
                    db.session.add(tag)
            except IntegrityError:
                tag = db.session.scalars(select(Tag).where(Tag.name == name)).one()
        tags.append(tag)
    return tags


def live_link_for(url: str) -> Link | None:
    now = datetime.now(UTC)
    return db.session.scalar(
        select(Link)
        .where(
            Link.url_hash == hashlib.sha256(url.encode()).hexdigest(),
            Link.url == url,
            Link.deleted_at.is_(None),
            (Link.expires_at.is_(None)) | (Link.expires_at > now),
            (Link.max_clicks.is_(None)) | (Link.use_count < Link.max_clicks),
        )
        .order_by(Link.id)
        .limit(1)
    )


def get_live(slug: str) -> Link:
    # A slug that breaks the rules cannot exist (and may hold bytes PostgreSQL refuses).
    link = (
        db.session.scalar(select(Link).where(Link.slug == slug))
        if SLUG_PATTERN.match(slug)
        else None
    )
    if link is None:
        raise Problem(404, f"no link with slug '{slug}'", kind="not-found")
    if link.deleted_at is not None:
        raise Problem(410, f"link '{slug}' was deleted; its slug stays reserved", kind="deleted")
    return link


@blp.route("", methods=["POST"])
@limiter.limit(write_limit, key_func=api_key_bucket, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@limiter.limit(write_limit, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@require("write", anonymous_allowed=anonymous_create_allowed)
@blp.arguments(LinkCreate)
@blp.response(201, LinkOut)
@blp.alt_response(200, schema=LinkOut, description="an existing link was reused")
def create_link(data):
    """Create a short link (or reuse the live one for the same URL)."""
    url = data["url"].strip()
    check_url(url)
    slug = data.get("slug")
    if slug is not None and (problem := slug_problem(slug)):
        raise invalid("slug", problem)
    check_expiry(data.get("expires_at"))
    if data["reuse"] and (existing := live_link_for(url)) is not None:
        return link_view(existing), 200, {"Location": link_view(existing)["short_url"]}

    link = Link(
        url=url,
        url_hash=hashlib.sha256(url.encode()).hexdigest(),
        redirect_status=data.get("redirect_status") or state().settings.default_redirect_status,
        expires_at=data.get("expires_at"),
        max_clicks=data.get("max_clicks"),
        created_by_key_id=g.api_key.id if g.api_key else None,
        tags=find_tags(data.get("tags", [])),
    )
    for _attempt in range(5):
        link.slug = slug or "".join(
            secrets.choice(SLUG_ALPHABET) for _ in range(GENERATED_SLUG_LENGTH)
        )
        try:
            with db.session.begin_nested():
                db.session.add(link)
            break
        except IntegrityError:
            if slug:  # the database's unique index said no: someone has this slug
                raise Problem(409, f"slug '{slug}' is already taken", kind="slug-taken") from None
    else:
        raise Problem(503, "could not find a free slug; try again", kind="slug-exhausted")
    db.session.commit()
    # Replaces a cached "unknown" left by anyone who probed this slug before.
    state().cache.put(link.slug, CachedLink.from_row(link))
    metrics.LINKS_CREATED.inc()
    view = link_view(link)
    return view, 201, {"Location": view["short_url"]}


@blp.route("", methods=["GET"])
@require("read")
@blp.arguments(LinkListQuery, location="query")
@blp.response(200, LinkPage)
def list_links(query):
    """List live links, newest first; follow next_cursor for the next page."""
    stmt = (
        select(Link)
        .where(Link.deleted_at.is_(None))
        .order_by(Link.id.desc())
        .limit(query["limit"] + 1)
    )
    if "cursor" in query:
        stmt = stmt.where(Link.id < query["cursor"])
    if "tag" in query:
        stmt = stmt.where(Link.tags.any(Tag.name == query["tag"]))
    if "q" in query:
        stmt = stmt.where(
            Link.slug.icontains(query["q"], autoescape=True)
            | Link.url.icontains(query["q"], autoescape=True)
        )
    links = list(db.session.scalars(stmt))
    more = len(links) > query["limit"]
    links = links[: query["limit"]]
    return {"items": [link_view(x) for x in links], "next_cursor": links[-1].id if more else None}


@blp.route("/<slug>", methods=["GET"])
@require("read")
@blp.response(200, LinkOut)
def get_link(slug):
    """Read one link."""
    return link_view(get_live(slug))


@blp.route("/<slug>", methods=["PATCH"])
@limiter.limit(write_limit, key_func=api_key_bucket, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@limiter.limit(write_limit, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@require("write")
@blp.arguments(LinkUpdate)
@blp.response(200, LinkOut)
def update_link(changes, slug):
    """Change a link; every worker follows the change within SNIP_LOCAL_CACHE_TTL_SECONDS."""
    link = get_live(slug)
    if "url" in changes:
        url = changes["url"].strip()
        check_url(url)
        link.url, link.url_hash = url, hashlib.sha256(url.encode()).hexdigest()
    if "expires_at" in changes:
        check_expiry(changes["expires_at"])
        link.expires_at = changes["expires_at"]
    for name in ("max_clicks", "redirect_status"):
        if name in changes:
            setattr(link, name, changes[name])
    if "tags" in changes:
        link.tags = find_tags(changes["tags"])
    db.session.commit()
    state().cache.put(slug, CachedLink.from_row(link))
    return link_view(link)


@blp.route("/<slug>", methods=["DELETE"])
@limiter.limit(write_limit, key_func=api_key_bucket, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@limiter.limit(write_limit, on_breach=lambda _: metrics.RATE_LIMITED.inc())
@require("write")
@blp.response(204)
def delete_link(slug):
    """Delete a link: it answers 410 Gone from then on and its slug is never reused."""
    link = get_live(slug)
    link.deleted_at = datetime.now(UTC)
    db.session.commit()
    state().cache.put(slug, CachedLink.from_row(link))


@blp.route("/<slug>/stats", methods=["GET"])
@require("read")
@blp.arguments(StatsQuery, location="query")
@blp.response(200, LinkStats)
def link_stats(query, slug):
    """Click statistics: all-time totals, and per day and top referrers for a date range.

    Counts include every click flushed so far; the flusher runs every few seconds.
    """
    link = get_live(slug)
    today = datetime.now(UTC).date()
    last: date = query.get("to", today)
    first: date = query["from_"] if "from_" in query else max(last - timedelta(days=29), FIRST_DAY)
    if first > last:
        raise invalid("from", "must not be after 'to'")
    if (last - first).days >= MAX_STATS_DAYS:
        raise invalid("from", f"a range covers at most {MAX_STATS_DAYS} days")

    totals = dict(
        db.session.execute(
            select(ClickStat.is_bot, func.sum(ClickStat.clicks))
            .where(ClickStat.link_id == link.id)
            .group_by(ClickStat.is_bot)
        ).all()
    )
    in_range = (ClickStat.link_id == link.id) & ClickStat.day.between(first, last)
    daily: dict[date, dict] = {}
    for day, bot, clicks in db.session.execute(
        select(ClickStat.day, ClickStat.is_bot, func.sum(ClickStat.clicks))
        .where(in_range)
        .group_by(ClickStat.day, ClickStat.is_bot)
    ):
        entry = daily.setdefault(day, {"date": day, "humans": 0, "bots": 0})
        entry["bots" if bot else "humans"] += int(clicks)
    referrers = db.session.execute(
        select(ClickStat.referrer_host, func.sum(ClickStat.clicks).label("n"))
        .where(in_range)
        .group_by(ClickStat.referrer_host)
        .order_by(func.sum(ClickStat.clicks).desc(), ClickStat.referrer_host)
        .limit(TOP_REFERRERS)
    )
    humans, bots = int(totals.get(False) or 0), int(totals.get(True) or 0)
    return {
        "slug": slug,
        "total": humans + bots,
        "humans": humans,
        "bots": bots,
        "from_": first,
        "to": last,
        "daily": [daily[d] for d in sorted(daily)],
        "top_referrers": [{"host": host or "(direct)", "clicks": int(n)} for host, n in referrers],
    }
