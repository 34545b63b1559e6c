"""API v1 links: create, list, read, change, delete, and read click statistics.

Thin HTTP handlers: authentication, rate limits, request and response shapes.
What a link is and how it changes lives in ``snip.services.links`` and
``snip.services.stats``; their errors become problem+json in ``snip.errors``.
"""

from __future__ import annotations

from flask import Response, g, request
from flask_smorest import Blueprint

from snip.api.spec import errors
from snip.auth import anonymous_create_allowed, require
from snip.extensions import limit_writes
from snip.models import Link, as_utc
from snip.qr import FORMATS, qr_code
from snip.schemas import (
    BreakdownQuery,
    LinkBreakdown,
    LinkCreate,
    LinkListQuery,
    LinkOut,
    LinkPage,
    LinkSeries,
    LinkStats,
    LinkUpdate,
    QrQuery,
    SeriesQuery,
    StatsQuery,
)
from snip.services import links, stats
from snip.services.actor import Actor
from snip.services.errors import Invalid
from snip.state import state

blp = Blueprint("links", __name__, url_prefix="/api/v1/links", description="Short links")
# Statuses every operation can answer (422 is added by each @blp.arguments): no or a bad
# key, a key without the scope, the database down. Writes also read a JSON body that can
# be malformed (400) or too large (413), and are rate limited (429).
READ_ERRORS = (401, 403, 503)
WRITE_ERRORS = (*READ_ERRORS, 400, 413, 429)


def actor() -> Actor:
    """Who is calling: the key ``require`` authenticated (None when anonymous)."""
    return Actor.from_key(g.api_key)


def link_view(link: Link) -> dict:
    return {
        "slug": link.slug,
        "short_url": links.short_url(link),
        "url": link.url,
        "redirect_status": link.redirect_status,
        "expires_at": as_utc(link.expires_at),
        "max_clicks": link.max_clicks,
        "tags": link.tag_names,
        "created_at": as_utc(link.created_at),
        "updated_at": as_utc(link.updated_at),
    }


@blp.route("", methods=["POST"])
@limit_writes
@require("write", anonymous_allowed=anonymous_create_allowed)
@blp.arguments(LinkCreate)
@blp.response(201, LinkOut)
@blp.alt_response(200, schema=LinkOut, description="an existing link was reused")
@errors(blp, *WRITE_ERRORS, 409)
def create_link(data):
    """Create a short link (or reuse the live one for the same URL)."""
    link, created = links.create_link(**data, actor=actor())
    view = link_view(link)
    return view, 201 if created else 200, {"Location": view["short_url"]}


@blp.route("", methods=["GET"])
@require("read")
@blp.arguments(LinkListQuery, location="query")
@blp.response(200, LinkPage)
@errors(blp, *READ_ERRORS)
def list_links(query):
    """List live links, newest first; follow next_cursor for the next page."""
    page = links.list_links(**query, actor=actor())
    return {"items": [link_view(x) for x in page.items], "next_cursor": page.next_cursor}


@blp.route("/<slug>", methods=["GET"])
@require("read")
@blp.response(200, LinkOut)
@errors(blp, *READ_ERRORS, 404, 410)
def get_link(slug):
    """Read one link."""
    return link_view(links.get_link(slug, actor=actor()))


@blp.route("/<slug>", methods=["PATCH"])
@limit_writes
@require("write")
@blp.arguments(LinkUpdate)
@blp.response(200, LinkOut)
@errors(blp, *WRITE_ERRORS, 404, 410)
def update_link(changes, slug):
    """Change a link; every worker follows the change within SNIP_LOCAL_CACHE_TTL_SECONDS."""
    if not request.is_json or not request.get_data():
        # webargs reads a missing or non-JSON body as {}: a no-op that looks like success.
        raise Invalid("body", "send a JSON object with the fields to change")
    return link_view(links.update_link(slug, changes, actor=actor()))


@blp.route("/<slug>", methods=["DELETE"])
@limit_writes
@require("write")
@blp.response(204)
@errors(blp, *READ_ERRORS, 404, 410, 429)
def delete_link(slug):
    """Delete a link: it answers 410 Gone from then on and its slug is never reused."""
    links.delete_link(slug, actor=actor())


@blp.route("/<slug>/stats", methods=["GET"])
@require("read")
@blp.arguments(StatsQuery, location="query")
@blp.response(200, LinkStats)
@errors(blp, *READ_ERRORS, 404, 410)
def link_stats(query, slug):
    """Click statistics: all-time totals, and per day and top referrers for a date range.

    Counts include every click flushed so far; the flusher runs every few seconds.
    """
    link = links.get_link(slug, actor=actor())
    return stats.link_stats(link, first=query.get("from_"), last=query.get("to"))


QR_CONTENT = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in FORMATS.values()}


@blp.route("/<slug>/qr", methods=["GET"])
@require("read")
@blp.arguments(QrQuery, location="query")
@blp.doc(responses={"200": {"description": "the QR code of the short link", "content": QR_CONTENT}})
@errors(blp, *READ_ERRORS, 404, 410)
def link_qr(query, slug):
    """QR code of the short link, as PNG or SVG (what the dashboard's download buttons give)."""
    link = links.get_link(slug, actor=actor())
    fmt = query["format"]
    return Response(
        qr_code(links.short_url(link), fmt),
        mimetype=FORMATS[fmt],
        headers={"Content-Disposition": f'inline; filename="{link.slug}-qr.{fmt}"'},
    )


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def series_view(query, slug: str) -> dict:
    link = links.get_link(slug, actor=actor())
    first, last = stats.date_range(query.get("from_"), query.get("to"))
    points = stats.series(
        link,
        first=first,
        last=last,
        interval=query["interval"],
        tz=query["tz"],
        retention_days=state().settings.stats_hourly_retention_days,
    )
    return {"slug": link.slug, "interval": query["interval"], "tz": query["tz"],
            "from_": first, "to": last, "points": points}  # fmt: skip


def breakdown_view(query, slug: str) -> dict:
    link = links.get_link(slug, actor=actor())
    first, last = stats.date_range(query.get("from_"), query.get("to"))
    items = stats.breakdown(link, query["dimension"], first=first, last=last, limit=query["limit"])
    return {"slug": link.slug, "dimension": query["dimension"], "from_": first, "to": last,
            "items": items}  # fmt: skip


@blp.route("/<slug>/stats/series", methods=["GET"])
@require("read")
@blp.arguments(SeriesQuery, location="query")
@blp.response(200, LinkSeries)
@errors(blp, *READ_ERRORS, 404, 410)
def link_series(query, slug):
    """Clicks per hour or per day in a time zone, humans and bots apart."""
    return series_view(query, slug)


@blp.route("/<slug>/stats/series.csv", methods=["GET"])
@require("read")
@blp.arguments(SeriesQuery, location="query")
@blp.response(200, content_type="text/csv", description="start,humans,bots")
@errors(blp, *READ_ERRORS, 404, 410)
def link_series_csv(query, slug):
    """The series as CSV (columns start, humans, bots), for a spreadsheet."""
    view = series_view(query, slug)
    text = stats.to_csv(view["points"], ("start", "humans", "bots"))
    return csv_response(text, f"{slug}-clicks-per-{query['interval']}.csv")


@blp.route("/<slug>/stats/breakdown", methods=["GET"])
@require("read")
@blp.arguments(BreakdownQuery, location="query")
@blp.response(200, LinkBreakdown)
@errors(blp, *READ_ERRORS, 404, 410)
def link_breakdown(query, slug):
    """Clicks by country, browser, os, device or referrer over UTC days, most first."""
    return breakdown_view(query, slug)


@blp.route("/<slug>/stats/breakdown.csv", methods=["GET"])
@require("read")
@blp.arguments(BreakdownQuery, location="query")
@blp.response(200, content_type="text/csv", description="value,humans,bots,clicks")
@errors(blp, *READ_ERRORS, 404, 410)
def link_breakdown_csv(query, slug):
    """The breakdown as CSV (columns value, humans, bots, clicks)."""
    view = breakdown_view(query, slug)
    text = stats.to_csv(view["items"], ("value", "humans", "bots", "clicks"))
    return csv_response(text, f"{slug}-clicks-by-{query['dimension']}.csv")
