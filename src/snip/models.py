"""Database tables: users, links, tags, API keys, click aggregates and the click-shipping
ledgers."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from snip.extensions import db

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything snip stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


link_tags = Table(
    "link_tags",
    db.metadata,
    Column("link_id", BigId, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_link_tags_tag_id", "tag_id"),
)


ROLES = ("admin", "member")


class User(db.Model):
    """A person who signs in to the dashboard and owns links and API keys.

    ``password_hash`` is argon2 (None until an invited user sets a password, or
    after an admin reset). ``session_version`` is part of every session cookie:
    bumping it signs the user out everywhere (disable, reset, password change).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # One pending invite or reset: only its SHA-256 is stored, like API keys.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def active(self) -> bool:
        return self.disabled_at is None


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex, never the key
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated, e.g. "read write"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The key acts for its user: it sees and changes what the user may.
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)


class Link(db.Model):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Uniqueness lives in the database, so two racing creators cannot share a slug.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64), index=True)  # for "reuse existing link"
    redirect_status: Mapped[int] = mapped_column(SmallInteger)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    max_clicks: Mapped[int | None] = mapped_column(Integer)
    # Redirects consumed so far; maintained only for links with max_clicks.
    use_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # Deleted links keep their row: a slug is never handed to a new owner.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_key_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # The owner sees and manages the link; admins see and manage every link.
    # None only for links made anonymously (SNIP_ALLOW_ANONYMOUS_CREATE): admins manage those.
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    updated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id], lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=link_tags, lazy="selectin", order_by=Tag.name)

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]


class ClickHourly(db.Model):
    """Clicks per link, UTC hour, dimension value and bot flag, written by the shipper.

    ``dimension`` is "all" (value "") for the plain count, or one of
    snip.analytics.DIMENSIONS; every click adds one to a row of each. Rows older than
    SNIP_STATS_HOURLY_RETENTION_DAYS are deleted (ClickDaily keeps the days).
    """

    __tablename__ = "click_hourly"

    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)


class ClickDaily(db.Model):
    """The same counts per UTC day, written alongside the hourly ones and kept for good."""

    __tablename__ = "click_daily"

    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)


class ClickSegment(db.Model):
    """How far each click-log segment has been shipped: the exactly-once ledger.

    A batch is the byte range [shipped_bytes, end) of a segment; it is accepted only
    if shipped_bytes still equals its start (a compare-and-set in the batch's own
    transaction), so a range is counted once whoever ships it and however often.
    """

    __tablename__ = "click_segments"

    segment: Mapped[str] = mapped_column(String(80), primary_key=True)
    shipped_bytes: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    last_batch_clicks: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )


class FlushedBatch(db.Model):
    """Batches of clicks already written, so a re-run never counts one twice."""

    __tablename__ = "flushed_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    clicks: Mapped[int] = mapped_column(BigInteger)
    flushed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class CacheEpoch(db.Model):
    """One row: the generation of the Redis link cache (see snip.cache).

    A link change that cannot reach Redis bumps it in the same transaction; every
    worker re-reads it each second and ignores cache entries of older generations,
    so a Redis that comes back with stale entries cannot undo a takedown.
    """

    __tablename__ = "cache_epoch"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
