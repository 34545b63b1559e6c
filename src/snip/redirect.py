"""The hot path: GET/HEAD /<slug> answers a redirect without touching the database
when the link is cached, and records the click without a database write.

Two doors lead here, sharing every decision below: the Flask view ``follow`` (every
case: misses, dead links, one-time links, errors) and, for the common case of a
cached live link, the WSGI fast path (fastpath.py) which skips the Flask request
cycle. Both call ``lookup``, ``servable_fast``, ``record_click`` and
``redirect_headers``; neither has its own copy.

The one exception to "no database write" is a link with max_clicks: to never allow
one redirect more than asked, its use is counted by a single conditional UPDATE in
the database, which stays exact under concurrency and across Redis outages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from flask import Blueprint, Response, g, request
from sqlalchemy import CursorResult, bindparam, select, update
from werkzeug.urls import iri_to_uri

from snip import metrics
from snip.analytics import opted_out, referrer_host
from snip.cache import CachedLink, Missing
from snip.errors import Problem
from snip.extensions import db
from snip.models import Link
from snip.state import SnipState, state
from snip.validation import is_slug

bp = Blueprint("redirect", __name__)
ROUTE = "/<slug>"  # the route label of both doors in the HTTP metrics
LOOKUP_KEY = "snip.lookup"  # the fast path's cache answer, handed on to the Flask view


LINK_LOOKUP = select(
    Link.id, Link.url, Link.redirect_status, Link.expires_at, Link.max_clicks, Link.deleted_at
).where(Link.slug == bindparam("slug"))


@dataclass(frozen=True)
class Visit:
    """What a click needs from the request, read from Flask's request or a WSGI environ."""

    method: str
    user_agent: str
    address: str | None
    referrer: str | None
    dnt: str | None
    gpc: str | None


def load_link(slug: str) -> CachedLink | None:
    """One indexed query on an autocommit connection: no BEGIN/ROLLBACK round trips."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(LINK_LOOKUP, {"slug": slug}).one_or_none()
    return CachedLink.from_row(row) if row is not None else None


def lookup(snip: SnipState, slug: str) -> CachedLink | Missing | None:
    """The cache's answer, counted as a hit or a miss."""
    cached = snip.cache.get(slug)
    metrics.CACHE_MISS.inc() if isinstance(cached, Missing) else metrics.CACHE_HIT.inc()
    return cached


def servable_fast(link: CachedLink | Missing | None, now: float) -> bool:
    """A live link with no use limit: answerable from the cache alone."""
    return (
        isinstance(link, CachedLink)
        and not link.deleted
        and link.max_clicks is None
        and (link.expires_at is None or link.expires_at > now)
    )


def record_click(snip: SnipState, link: CachedLink, visit: Visit) -> None:
    """HEAD is what link checkers and previews send: answer, but count nothing."""
    if visit.method != "GET":
        return
    snip.clicks.record(
        link.id,
        visit.user_agent,
        visit.address,
        referrer_host(visit.referrer),
        opted_out(visit.dnt, visit.gpc),
    )
    metrics.CLICKS_LOGGED.inc()


@lru_cache(maxsize=8192)
def location(url: str) -> str:
    # Stored URLs may hold non-ASCII characters; a header must not (cached: ~7 µs each).
    return iri_to_uri(url)


def redirect_headers(link: CachedLink, request_id: str) -> list[tuple[str, str]]:
    """The redirect's headers, the same from both doors (no body: clients ignore it)."""
    metrics.REDIRECT_BY_STATUS[link.status].inc()
    return [
        ("Location", location(link.url)),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "0"),
        ("X-Request-ID", request_id),
    ]


def consume_one_use(link_id: int) -> bool:
    """Atomically take one of a limited link's uses; False when none is left."""
    result: CursorResult = db.session.execute(  # type: ignore[assignment]
        update(Link)
        .where(Link.id == link_id, Link.max_clicks.is_not(None), Link.use_count < Link.max_clicks)
        .values(use_count=Link.use_count + 1)
    )
    db.session.commit()
    return result.rowcount == 1


def has_use_left(link_id: int) -> bool:
    """For HEAD: whether a limited link would still redirect (reads, takes nothing)."""
    return bool(
        db.session.scalar(select(Link.use_count < Link.max_clicks).where(Link.id == link_id))
    )


def gone(slug: str, why: str, reason: str) -> Problem:
    metrics.REDIRECTS.labels("410").inc()
    problem = Problem(410, f"link '{slug}' {why}", kind="gone")
    problem.reason = reason  # deleted, expired or used-up: the visitor's page says which
    return problem


@bp.route("/<slug>", methods=["GET", "HEAD"])
def follow(slug: str):
    if not is_slug(slug):  # cannot exist: spare the cache and the database
        metrics.REDIRECTS.labels("404").inc()
        raise Problem(404, f"no link with slug '{slug}'", kind="not-found")
    snip = state()
    environ = request.environ
    cached = environ[LOOKUP_KEY] if LOOKUP_KEY in environ else lookup(snip, slug)
    link: CachedLink | None
    if isinstance(cached, Missing):
        link = load_link(slug)
        snip.cache.fill(slug, link)
    else:
        link = cached

    if link is None:
        metrics.REDIRECTS.labels("404").inc()
        raise Problem(404, f"no link with slug '{slug}'", kind="not-found")
    if link.deleted:
        raise gone(slug, "was deleted", "deleted")
    if link.expires_at is not None and link.expires_at <= time.time():
        raise gone(slug, "has expired", "expired")
    # A used-up one-time link must not reveal its target to HEAD either.
    if link.max_clicks is not None:
        left = consume_one_use(link.id) if request.method == "GET" else has_use_left(link.id)
        if not left:
            raise gone(slug, "has reached its maximum number of clicks", "used-up")
    record_click(
        snip,
        link,
        Visit(
            method=request.method,
            user_agent=request.headers.get("User-Agent", ""),
            address=request.remote_addr,
            referrer=request.headers.get("Referer"),
            dnt=request.headers.get("DNT"),
            gpc=request.headers.get("Sec-GPC"),
        ),
    )
    # X-Request-ID is set again by the after_request hook, to the same value.
    return Response(b"", link.status, redirect_headers(link, g.request_id))
