"""Links: create (random or custom slug, tags, reuse), read, list, change, delete, purge.

Deleted links keep their row and their slug: a slug once printed on a poster
must never start sending people somewhere else, so it is never reused.
Every write also refreshes the link cache, so redirects follow at once.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from snip import metrics
from snip.access import can_manage, visible_links
from snip.cache import CachedLink
from snip.extensions import db
from snip.models import ClickDaily, ClickHourly, Link, Tag, link_tags
from snip.services.actor import ANONYMOUS, Actor
from snip.services.errors import Conflict, Gone, Invalid, NotFound, Unavailable
from snip.state import state
from snip.validation import is_slug, slug_problem, url_problem

SLUG_ALPHABET = string.ascii_letters + string.digits
GENERATED_SLUG_LENGTH = 7  # 62**7 = 3.5e12 slugs: collisions stay rare far past 1e6 links
SLUG_ATTEMPTS = 5
PURGE_CHUNK = 1000  # links per transaction: bounded locks on a big purge
UPDATABLE = frozenset({"url", "expires_at", "max_clicks", "redirect_status", "tags"})


@dataclass(frozen=True)
class Page:
    """One page of links, newest first; ``next_cursor`` is None on the last page."""

    items: list[Link]
    next_cursor: int | None


@dataclass(frozen=True)
class PurgeResult:
    count: int
    cutoff: datetime


# ------------------------------------------------------------------------ helpers


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def short_url(link: Link) -> str:
    return f"{state().settings.base_url}/{link.slug}"


def checked_url(url: str) -> str:
    """The URL as stored (surrounding spaces dropped), or Invalid naming the rule it breaks."""
    url = url.strip()
    settings = state().settings
    problem = url_problem(url, settings.base_host, settings.blocked_hosts)
    if problem:
        raise Invalid("url", problem)
    return url


def check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    try:
        past = expires_at <= datetime.now(UTC)
    except OverflowError:  # e.g. year 1 with a +14:00 offset: before the year 1 in UTC
        past = True
    if past:
        raise Invalid("expires_at", "must be in the future")
    if expires_at.year >= 9000:
        raise Invalid("expires_at", "must be before the year 9000; omit it for a permanent link")


def find_tags(names: Collection[str]) -> list[Tag]:
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


def live_link_for(url: str, actor: Actor = ANONYMOUS) -> Link | None:
    """The oldest link to exactly this URL that still redirects and is the actor's, if any.

    Only the actor's own links are reused (an admin's: any; anonymous: other
    anonymous ones): reuse must not hand out, or tie someone to, another user's link.
    """
    now = datetime.now(UTC)
    if actor.user is None:
        stmt = select(Link).where(Link.owner_id.is_(None))
    else:
        stmt = visible_links(select(Link), actor.user)
    return db.session.scalar(
        stmt.where(
            Link.url_hash == url_hash(url),
            Link.url == url,
            Link.deleted_at.is_(None),
            (Link.expires_at.is_(None)) | (Link.expires_at > now),
            (Link.max_clicks.is_(None)) | (Link.use_count < Link.max_clicks),
        )
        .order_by(Link.id)
        .limit(1)
    )


def authorize(link: Link, actor: Actor, action: str) -> None:
    """Raise NotFound when ``actor`` may not ``action`` ("read", "update", "delete") ``link``.

    Members act on their own links, admins on all (snip.access); the key's scope is
    checked by the HTTP layer. Someone else's link answers as if it did not exist.
    """
    if not can_manage(actor.user, link):
        raise NotFound(f"no link with slug '{link.slug}'")


def refresh_cache(link: Link) -> None:
    # Overwrites whatever is cached, including an "unknown" left by an earlier probe.
    state().cache.put(link.slug, CachedLink.from_row(link))


# --------------------------------------------------------------------- operations


def create_link(
    *,
    url: str,
    slug: str | None = None,
    expires_at: datetime | None = None,
    max_clicks: int | None = None,
    redirect_status: int | None = None,
    tags: Collection[str] = (),
    reuse: bool = False,
    actor: Actor = ANONYMOUS,
) -> tuple[Link, bool]:
    """Create a link; returns (link, created). With ``reuse``, an existing live link
    for the same URL is returned instead (created is then False)."""
    url = checked_url(url)
    if slug is not None and (problem := slug_problem(slug)):
        raise Invalid("slug", problem)
    check_expiry(expires_at)
    if reuse and (existing := live_link_for(url, actor)) is not None:
        return existing, False

    link = Link(
        url=url,
        url_hash=url_hash(url),
        redirect_status=redirect_status or state().settings.default_redirect_status,
        expires_at=expires_at,
        max_clicks=max_clicks,
        created_by_key_id=actor.key_id,
        owner_id=actor.user.id if actor.user is not None else None,
        tags=find_tags(tags),
    )
    for _attempt in range(SLUG_ATTEMPTS):
        link.slug = slug or "".join(
            secrets.choice(SLUG_ALPHABET) for _ in range(GENERATED_SLUG_LENGTH)
        )
        try:
            with db.session.begin_nested():
                db.session.add(link)
            break
        except IntegrityError:
            if slug:  # the database's unique index said no: someone has this slug
                raise Conflict(f"slug '{slug}' is already taken", kind="slug-taken") from None
    else:
        raise Unavailable("could not find a free slug; try again", kind="slug-exhausted")
    db.session.commit()
    refresh_cache(link)
    metrics.LINKS_CREATED.inc()
    return link, True


def get_link(slug: str, *, actor: Actor = ANONYMOUS) -> Link:
    """The live link with this slug; NotFound, or Gone when it was deleted."""
    # A slug that breaks the rules cannot exist (and may hold bytes PostgreSQL refuses).
    link = db.session.scalar(select(Link).where(Link.slug == slug)) if is_slug(slug) else None
    if link is None:
        raise NotFound(f"no link with slug '{slug}'")
    authorize(link, actor, "read")  # first: others' deleted links are not confirmed either
    if link.deleted_at is not None:
        raise Gone(f"link '{slug}' was deleted; its slug stays reserved")
    return link


def list_links(
    *,
    limit: int,
    cursor: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    actor: Actor = ANONYMOUS,
) -> Page:
    """Live links, newest first, ``limit`` at a time; pages stay stable while links are added."""
    stmt = select(Link).where(Link.deleted_at.is_(None)).order_by(Link.id.desc()).limit(limit + 1)
    stmt = visible_links(stmt, actor.user)
    if cursor is not None:
        stmt = stmt.where(Link.id < cursor)
    if tag is not None:
        stmt = stmt.where(Link.tags.any(Tag.name == tag))
    if q is not None:
        stmt = stmt.where(
            Link.slug.icontains(q, autoescape=True) | Link.url.icontains(q, autoescape=True)
        )
    links = list(db.session.scalars(stmt))
    more = len(links) > limit
    links = links[:limit]
    return Page(items=links, next_cursor=links[-1].id if more else None)


def update_link(slug: str, changes: Mapping[str, Any], *, actor: Actor = ANONYMOUS) -> Link:
    """Apply ``changes`` (keys among UPDATABLE; ``expires_at: None`` makes it permanent)."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise Invalid(sorted(unknown)[0], "cannot be changed")
    link = get_link(slug, actor=actor)
    authorize(link, actor, "update")
    if "url" in changes:
        url = checked_url(changes["url"])
        link.url, link.url_hash = url, url_hash(url)
    if "expires_at" in changes:
        check_expiry(changes["expires_at"])
        link.expires_at = changes["expires_at"]
    for name in ("max_clicks", "redirect_status"):
        if name in changes:
            setattr(link, name, changes[name])
    if "tags" in changes:
        link.tags = find_tags(changes["tags"])
    link.updated_by_id = actor.user.id if actor.user is not None else None
    db.session.commit()
    refresh_cache(link)
    return link


def delete_link(slug: str, *, actor: Actor = ANONYMOUS) -> Link:
    """Delete: the link answers 410 Gone from then on and its slug is never reused."""
    link = get_link(slug, actor=actor)
    authorize(link, actor, "delete")
    link.deleted_at = datetime.now(UTC)
    link.updated_by_id = actor.user.id if actor.user is not None else None
    db.session.commit()
    refresh_cache(link)
    return link


def purge_expired(*, older_than: timedelta, dry_run: bool = False) -> PurgeResult:
    """Forget the target, tags and statistics of links expired longer than ``older_than``.

    The row stays as a tombstone, so the slug is never handed to someone else
    (it answers 410 Gone, like a deleted link).
    """
    cutoff = datetime.now(UTC) - older_than
    expired = (Link.expires_at < cutoff) & Link.deleted_at.is_(None)
    found = db.session.execute(select(Link.id, Link.slug).where(expired)).all()
    if dry_run:
        return PurgeResult(len(found), cutoff)
    for start in range(0, len(found), PURGE_CHUNK):
        ids = [row.id for row in found[start : start + PURGE_CHUNK]]
        db.session.execute(delete(ClickHourly).where(ClickHourly.link_id.in_(ids)))
        db.session.execute(delete(ClickDaily).where(ClickDaily.link_id.in_(ids)))
        db.session.execute(delete(link_tags).where(link_tags.c.link_id.in_(ids)))
        db.session.execute(
            update(Link)
            .where(Link.id.in_(ids))
            .values(url="", url_hash="", deleted_at=datetime.now(UTC))
        )
        db.session.commit()
    cache = state().cache
    for row in found:  # the next lookup reads the tombstone: 410
        cache.invalidate(row.slug)
    return PurgeResult(len(found), cutoff)
