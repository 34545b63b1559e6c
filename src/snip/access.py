"""Who may see and change what: members their own links and keys, admins everything.

The API (a key acts for its user) and the dashboard (the signed-in user) both
ask here, so one rule holds everywhere. A link someone may not see answers as
if it did not exist (404): the API does not confirm which slugs belong to
other people beyond what following the short link already shows.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select

from snip.errors import Problem
from snip.models import ApiKey, Link, User

S = TypeVar("S", bound=Select)


def can_manage(actor: User | None, link: Link) -> bool:
    if actor is None or not actor.active:
        return False
    return actor.is_admin or link.owner_id == actor.id


def check_can_manage(actor: User | None, link: Link) -> Link:
    """The link, or 404 as if it did not exist."""
    if not can_manage(actor, link):
        raise Problem(404, f"no link with slug '{link.slug}'", kind="not-found")
    return link


def visible_links(stmt: S, actor: User | None) -> S:
    """Narrow a select of links to those ``actor`` may see."""
    if actor is not None and actor.is_admin:
        return stmt
    if actor is None:
        return stmt.where(Link.id.is_(None))
    return stmt.where(Link.owner_id == actor.id)


def visible_keys(stmt: S, actor: User) -> S:
    return stmt if actor.is_admin else stmt.where(ApiKey.user_id == actor.id)


def can_manage_key(actor: User, key: ApiKey) -> bool:
    return actor.active and (actor.is_admin or key.user_id == actor.id)
