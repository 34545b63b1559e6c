"""Request and response shapes of API v1 (marshmallow; also drive the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from snip.config import REDIRECT_STATUSES
from snip.services.stats import FIRST_DAY, LAST_DAY

TAG = validate.Regexp(
    r"^[a-z0-9][a-z0-9_-]{0,31}$", error="tags are 1-32 characters: a-z, 0-9, '-', '_'"
)
MAX_TAGS = 10
REUSE_EXCLUDES = ("slug", "expires_at", "max_clicks", "redirect_status", "tags")


class LinkCreate(Schema):
    url = fields.String(required=True, metadata={"description": "http(s) URL to redirect to"})
    slug = fields.String(metadata={"description": "custom slug; random when omitted"})
    expires_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "ISO 8601 with time zone; 410 Gone afterwards"}
    )
    max_clicks = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=1_000_000_000),
        metadata={"description": "redirects allowed before the link answers 410"},
    )
    redirect_status = fields.Integer(
        validate=validate.OneOf(REDIRECT_STATUSES), metadata={"description": "301, 302, 307 or 308"}
    )
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=MAX_TAGS))
    reuse = fields.Boolean(
        load_default=False,
        metadata={"description": "return the existing live link for this URL instead of a new one"},
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
    url = fields.String()
    expires_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "null makes the link permanent"}
    )
    max_clicks = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1_000_000_000))
    redirect_status = fields.Integer(validate=validate.OneOf(REDIRECT_STATUSES))
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=MAX_TAGS))


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
    tag = fields.String(validate=TAG)
    q = fields.String(
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters"),
        ],
        metadata={"description": "text in slug or URL"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1),  # a database bigint
        metadata={"description": "next_cursor of the previous page"},
    )


class LinkPage(Schema):
    items = fields.List(fields.Nested(LinkOut))
    next_cursor = fields.Integer(allow_none=True)


class StatsQuery(Schema):
    from_ = fields.Date(
        data_key="from",
        validate=validate.Range(min=FIRST_DAY, max=LAST_DAY),
        metadata={"description": "first day (UTC), default 30 days before 'to'"},
    )
    to = fields.Date(
        validate=validate.Range(min=FIRST_DAY, max=LAST_DAY),
        metadata={"description": "last day (UTC), default today"},
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
