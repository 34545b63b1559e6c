"""Request and response shapes of API v1 (marshmallow; also drive the OpenAPI document).

Every rule a request must follow is in the document too (patterns, lengths, ranges),
so a request the document calls valid is accepted. Rules that JSON Schema cannot
state are in the descriptions: an expiry must lie in the future, a stats range runs
forwards and covers at most 366 days, a URL must not point at a blocked host or at
snip itself.
"""

from __future__ import annotations

import zoneinfo

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from snip.analytics import DIMENSIONS
from snip.config import REDIRECT_STATUSES
from snip.services.stats import FIRST_DAY, LAST_DAY, MAX_STATS_DAYS
from snip.validation import (
    MAX_URL_LENGTH,
    SLUG_RULE,
    SLUG_SCHEMA_PATTERN_UNRESERVED,
    URL_SCHEMA_PATTERN,
)


class FullMatch(validate.Regexp):
    """Regexp that must match the whole value (``$`` alone lets a trailing newline in)."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class StrictBoolean(fields.Boolean):
    """Only JSON true and false: not "yes", 1 or "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


TAG = FullMatch(r"^[a-z0-9][a-z0-9_-]{0,31}$", error="tags are 1-32 characters: a-z, 0-9, '-', '_'")
MAX_TAGS = 10
MAX_CLICKS = 1_000_000_000
REUSE_EXCLUDES = ("slug", "expires_at", "max_clicks", "redirect_status", "tags")
DATETIME_ERROR = "must be an ISO 8601 date-time with a time zone, like 2026-12-31T23:59:00Z"
DATE_ERROR = "must be a date like 2026-12-31"
# Years 0000-8999 (an expiry is before the year 9000) and 2000-9998 (stats days).
EXPIRY_PATTERN = r"^[0-8][0-9]{3}-"
STATS_DAY_PATTERN = r"^(?:[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}$"
URL_DESCRIPTION = (
    "http(s) URL to redirect to, at most 2048 characters. Unicode host names and paths are "
    "accepted too; refused: other schemes, spaces, control or invisible characters, "
    "backslashes, a user name or password, hosts blocked on this server, and snip itself."
)


def url_field(**kwargs) -> fields.String:
    return fields.String(
        validate=[
            validate.Length(min=1, error="URL is empty"),
            validate.Length(max=MAX_URL_LENGTH, error="URL is too long; the limit is {max}"),
        ],
        metadata={"description": URL_DESCRIPTION, "pattern": URL_SCHEMA_PATTERN},
        **kwargs,
    )


def expiry_field(description: str) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        allow_none=True,
        error_messages={"invalid": DATETIME_ERROR, "invalid_awareness": DATETIME_ERROR},
        metadata={"description": description, "pattern": EXPIRY_PATTERN},
    )


def tags_field() -> fields.List:
    return fields.List(
        fields.String(validate=TAG, metadata={"pattern": TAG.regex.pattern}),
        validate=validate.Length(max=MAX_TAGS),
    )


def max_clicks_field(**metadata) -> fields.Integer:
    return fields.Integer(
        strict=True,  # 1.5 is refused, not truncated to 1
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_CLICKS),
        metadata=metadata,
    )


def redirect_status_field() -> fields.Integer:
    return fields.Integer(
        strict=True,
        validate=validate.OneOf(REDIRECT_STATUSES),
        metadata={"description": "301, 302, 307 or 308"},
    )


class LinkCreate(Schema):
    url = url_field(required=True)
    slug = fields.String(
        metadata={
            "description": f"custom slug, {SLUG_RULE}, not a reserved word "
            "(api, docs, ...); random when omitted",
            "pattern": SLUG_SCHEMA_PATTERN_UNRESERVED,
        }
    )
    expires_at = expiry_field(
        "ISO 8601 with time zone, in the future and before the year 9000; 410 Gone afterwards"
    )
    max_clicks = max_clicks_field(description="redirects allowed before the link answers 410")
    redirect_status = redirect_status_field()
    tags = tags_field()
    reuse = StrictBoolean(
        load_default=False,
        metadata={
            "description": "return the existing live link for this URL instead of a new one; "
            "cannot be combined with the other options"
        },
    )

    @validates_schema
    def reuse_takes_no_options(self, data, **kwargs):
        # A reused link is returned as it is; silently ignoring asked-for options
        # (a max_clicks, an expiry) would hand back something else than requested.
        options = sorted(k for k in REUSE_EXCLUDES if data.get(k) is not None)
        if data.get("reuse") and options:
            raise ValidationError(
                f"reuse returns the existing link unchanged; drop {', '.join(options)}", "reuse"
            )


class LinkUpdate(Schema):
    url = url_field()
    expires_at = expiry_field("null makes the link permanent; else in the future")
    max_clicks = max_clicks_field()
    redirect_status = redirect_status_field()
    tags = tags_field()

    @pre_load
    def slug_cannot_change(self, data, **kwargs):
        if isinstance(data, dict) and "slug" in data:
            raise ValidationError(
                "a slug cannot change (printed links would break); "
                "create a new link with the slug you want and delete this one",
                "slug",
            )
        return data


class LinkOut(Schema):
    slug = fields.String()
    short_url = fields.String()
    url = fields.String()
    redirect_status = fields.Integer()
    expires_at = fields.DateTime(allow_none=True)
    max_clicks = fields.Integer(allow_none=True)
    tags = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LinkListQuery(Schema):
    tag = fields.String(validate=TAG, metadata={"pattern": TAG.regex.pattern})
    q = fields.String(
        validate=[
            validate.Length(min=1, max=200),
            FullMatch(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters"),
        ],
        metadata={"description": "text in slug or URL", "pattern": r"^[^\x00-\x1f\x7f]*$"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),  # a database bigint
        metadata={"description": "next_cursor of the previous page"},
    )


class LinkPage(Schema):
    items = fields.List(fields.Nested(LinkOut))
    next_cursor = fields.Integer(allow_none=True)


def stats_day(description: str, **kwargs) -> fields.Date:
    return fields.Date(
        **kwargs,
        validate=validate.Range(min=FIRST_DAY, max=LAST_DAY),
        error_messages={"invalid": DATE_ERROR},
        metadata={"description": description, "pattern": STATS_DAY_PATTERN},
    )


class StatsQuery(Schema):
    from_ = stats_day(
        f"first day (UTC), 2000-01-01 or later, default 30 days before 'to'; "
        f"not after 'to' and at most {MAX_STATS_DAYS} days before it",
        data_key="from",
    )
    to = stats_day("last day (UTC), 9998-12-31 or earlier, default today")


class QrQuery(Schema):
    format = fields.String(
        load_default="png",
        validate=validate.OneOf(["png", "svg"]),
        metadata={"description": "png (a 10-pixel module, for print) or svg (scalable)"},
    )


class DayStats(Schema):
    date = fields.Date()
    humans = fields.Integer()
    bots = fields.Integer()


class ReferrerStats(Schema):
    host = fields.String()
    clicks = fields.Integer()


class LinkStats(Schema):
    slug = fields.String()
    total = fields.Integer(metadata={"description": "all clicks ever flushed"})
    humans = fields.Integer()
    bots = fields.Integer()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    daily = fields.List(fields.Nested(DayStats))
    top_referrers = fields.List(fields.Nested(ReferrerStats))
    breakdowns = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(lambda: BreakdownItem())),
        metadata={"description": "top 10 values of country, browser, os, device, referrer"},
    )


# The IANA zones this machine knows (system tzdata): listed in the OpenAPI document.
TIME_ZONES = sorted(zoneinfo.available_timezones() | {"UTC"})


class SeriesQuery(StatsQuery):
    interval = fields.String(
        load_default="day",
        validate=validate.OneOf(("hour", "day")),
        metadata={"description": "'day' (default) or 'hour' (at most 31 days, and only "
                  "within SNIP_STATS_HOURLY_RETENTION_DAYS)"},
    )  # fmt: skip
    tz = fields.String(
        load_default="UTC",
        validate=validate.OneOf(TIME_ZONES, error="unknown time zone; use an IANA name"),
        metadata={"description": "IANA time zone of the days and hours, e.g. Europe/Paris; "
                  "'from' and 'to' are local days then"},
    )  # fmt: skip


class SeriesPoint(Schema):
    start = fields.DateTime(metadata={"description": "start of the hour or day, in 'tz'"})
    humans = fields.Integer()
    bots = fields.Integer()


class LinkSeries(Schema):
    slug = fields.String()
    interval = fields.String()
    tz = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    points = fields.List(
        fields.Nested(SeriesPoint), metadata={"description": "periods with clicks, in order"}
    )


class BreakdownQuery(StatsQuery):
    dimension = fields.String(
        required=True,
        validate=validate.OneOf(DIMENSIONS),
        metadata={"description": "country, browser, os, device or referrer"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))


class BreakdownItem(Schema):
    value = fields.String(metadata={"description": '"" = unknown (or a direct visit)'})
    humans = fields.Integer()
    bots = fields.Integer()
    clicks = fields.Integer()


class LinkBreakdown(Schema):
    slug = fields.String()
    dimension = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    items = fields.List(fields.Nested(BreakdownItem), metadata={"description": "most first"})
