"""The hot path: GET/HEAD /<slug> answers a redirect without touching the database
when the link is cached, and records the click without a database write.

The one exception is a link with max_clicks: to never allow one redirect more
than asked, its use is counted by a single conditional UPDATE in the database,
which stays exact under concurrency and across Redis outages.
"""

from __future__ import annotations

import time

from flask import Blueprint, redirect, request
from sqlalchemy import CursorResult, bindparam, select, update

from snip import metrics
from snip.cache import CachedLink, Missing
from snip.errors import Problem
from snip.extensions import db
from snip.models import Link
from snip.net import is_bot, referrer_host
from snip.state import state
from snip.validation import is_slug

bp = Blueprint("redirect", __name__)


LINK_LOOKUP = select(
    Link.id, Link.url, Link.redirect_status, Link.expires_at, Link.max_clicks, Link.deleted_at
).where(Link.slug == bindparam("slug"))


def load_link(slug: str) -> CachedLink | None:
    """One indexed query on an autocommit connection: no BEGIN/ROLLBACK round trips."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(LINK_LOOKUP, {"slug": slug}).one_or_none()
    return CachedLink.from_row(row) if row is not None else None


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
    cached = snip.cache.get(slug)
    link: CachedLink | None
    if isinstance(cached, Missing):
        metrics.CACHE_REQUESTS.labels("miss").inc()
        link = load_link(slug)
        snip.cache.fill(slug, link)
    else:
        metrics.CACHE_REQUESTS.labels("hit").inc()
        link = cached

    if link is None:
        metrics.REDIRECTS.labels("404").inc()
        raise Problem(404, f"no link with slug '{slug}'", kind="not-found")
    if link.deleted:
        raise gone(slug, "was deleted", "deleted")
    if link.expires_at is not None and link.expires_at <= time.time():
        raise gone(slug, "has expired", "expired")

    # HEAD is what link checkers and previews send: answer, but count nothing and use
    # nothing up. A used-up one-time link must not reveal its target to HEAD either.
    if link.max_clicks is not None:
        left = consume_one_use(link.id) if request.method == "GET" else has_use_left(link.id)
        if not left:
            raise gone(slug, "has reached its maximum number of clicks", "used-up")
    if request.method == "GET":
        path = snip.clicks.record(
            link.id, is_bot(request.user_agent.string), referrer_host(request.referrer)
        )
        metrics.CLICKS_RECORDED.labels(path).inc()
    metrics.REDIRECTS.labels(str(link.status)).inc()
    return redirect(link.url, code=link.status)
