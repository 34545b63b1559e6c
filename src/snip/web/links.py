"""The link pages: the table, create, edit, delete (with a confirmation), stats, QR codes.

Handlers stay thin: every rule (valid URLs and slugs, who may see or change a
link) lives in the service layer, which the API shares.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from flask import abort, flash, g, redirect, render_template, request, url_for

from snip.extensions import limit_writes
from snip.models import as_utc
from snip.qr import FORMATS, qr_code
from snip.schemas import TAG
from snip.services import link_table
from snip.services import links as link_service
from snip.services import stats as stats_service
from snip.services.actor import Actor
from snip.services.errors import Conflict, Invalid, NotFound, ServiceError
from snip.web import bp
from snip.web.charts import daily_chart
from snip.web.forms import LinkForm
from snip.web.session import login_required

PAGE_SIZE = 20
TAG_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # the API's rule (schemas.TAG)
FORM_FIELDS = {"url", "slug", "tags", "expires_at", "max_clicks", "redirect_status"}


def actor() -> Actor:
    return Actor.for_user(g.actor)


def load(slug: str, *, deleted_ok: bool = False):
    """The link the signed-in user may manage, or the 404 page (410 for a deleted one)."""
    try:
        return link_table.get_for(slug, actor(), deleted_ok=deleted_ok)
    except NotFound:
        abort(404)


@bp.get("/links")
@login_required
def links():
    filters = link_table.Filters.from_args(request.args)
    number = request.args.get("page", default=1, type=int) or 1
    page = link_table.page(filters, actor(), number=max(number, 1), size=PAGE_SIZE)

    def page_url(n: int) -> str:
        args = {k: v for k, v in filters.as_args().items() if v}
        return url_for("web.links") + "?" + urlencode({**args, "page": n})

    return render_template(
        "links/list.html",
        page=page,
        filters=filters,
        tags=link_table.tag_names(actor()),
        statuses=link_table.STATUS_CHOICES,
        sorts=link_table.SORT_CHOICES,
        page_url=page_url,
    )


def parse_tags(text: str | None) -> list[str]:
    names = [t.strip().lower() for t in (text or "").replace(";", ",").split(",")]
    names = [t for t in names if t]
    for name in names:
        if not TAG_NAME.fullmatch(name):
            raise Invalid("tags", f"“{name}”: {TAG.error}")
    return names


def form_time(value: datetime | None) -> datetime | None:
    """The form's naive date and time, read as UTC (the label says so)."""
    return value.replace(tzinfo=UTC) if value is not None else None


def show_error(form: LinkForm, exc: ServiceError) -> str | None:
    """Put a service error next to its field; return page-level text otherwise."""
    field = getattr(exc, "field", None) or ("slug" if isinstance(exc, Conflict) else None)
    if field in FORM_FIELDS:
        getattr(form, field).errors = [*getattr(form, field).errors, exc.message]
        return None
    return exc.message


@bp.route("/links/new", methods=["GET", "POST"])
@limit_writes
@login_required
def new_link():
    form = LinkForm()
    error = None
    if form.validate_on_submit():
        try:
            link, _ = link_service.create_link(
                url=form.url.data or "",
                slug=(form.slug.data or "").strip() or None,
                tags=parse_tags(form.tags.data),
                expires_at=form_time(form.expires_at.data),
                max_clicks=form.max_clicks.data,
                redirect_status=int(form.redirect_status.data or 302),
                actor=actor(),
            )
        except ServiceError as exc:
            error = show_error(form, exc)
        else:
            flash(f"Created {link_service.short_url(link)}")
            return redirect(url_for("web.link_stats", slug=link.slug))
    status = 422 if (error or form.errors) else 200
    return render_template("links/form.html", form=form, link=None, error=error), status


@bp.route("/links/<slug>/edit", methods=["GET", "POST"])
@limit_writes
@login_required
def edit_link(slug: str):
    link = load(slug)
    form = LinkForm()
    if request.method == "GET":
        form.url.data = link.url
        form.tags.data = ", ".join(link.tag_names)
        expires = as_utc(link.expires_at)
        form.expires_at.data = expires.replace(tzinfo=None) if expires else None
        form.max_clicks.data = link.max_clicks
        form.redirect_status.data = str(link.redirect_status)
    error = None
    if form.validate_on_submit():
        try:
            changes = link_table.changes_from_form(
                link,
                url=form.url.data or "",
                tags=parse_tags(form.tags.data),
                expires_at=form_time(form.expires_at.data),
                max_clicks=form.max_clicks.data,
                redirect_status=int(form.redirect_status.data or 302),
            )
            if changes:
                link_service.update_link(slug, changes, actor=actor())
        except ServiceError as exc:
            error = show_error(form, exc)
        else:
            flash("Saved." if changes else "Nothing changed.")
            return redirect(url_for("web.link_stats", slug=slug))
    status = 422 if (error or form.errors) else 200
    return render_template("links/form.html", form=form, link=link, error=error), status


@bp.route("/links/<slug>/delete", methods=["GET", "POST"])
@limit_writes
@login_required
def delete_link(slug: str):
    link = load(slug)
    if request.method == "POST":
        link_service.delete_link(slug, actor=actor())
        flash(f"Deleted /{slug}. It answers “removed” from now on.")
        return redirect(url_for("web.links"))
    return render_template("links/delete.html", link=link, short_url=link_service.short_url(link))


def parse_day(name: str) -> date | None:
    raw = request.args.get(name, "")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/links/<slug>")
@login_required
def link_stats(slug: str):
    link = load(slug, deleted_ok=True)
    range_error = None
    try:
        first, last = stats_service.date_range(parse_day("from"), parse_day("to"))
    except Invalid as exc:
        range_error = f"{exc.message}; showing the last 30 days."
        first, last = stats_service.date_range(None, None)
    stats = stats_service.link_stats(link, first=first, last=last)
    in_range = {
        "humans": sum(d["humans"] for d in stats["daily"]),
        "bots": sum(d["bots"] for d in stats["daily"]),
    }
    return render_template(
        "links/stats.html",
        link=link,
        status=link_table.status_of(link),
        short_url=link_service.short_url(link),
        stats=stats,
        in_range=in_range,
        first=first,
        last=last,
        range_error=range_error,
        chart=daily_chart(stats["daily"], first, last),
    )


@bp.get("/links/<slug>/qr.<fmt>")
@login_required
def link_qr(slug: str, fmt: str):
    if fmt not in FORMATS:
        abort(404)
    link = load(slug, deleted_ok=True)
    body = qr_code(link_service.short_url(link), fmt)
    headers = {"Cache-Control": "private, max-age=3600"}
    if request.args.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{link.slug}-qr.{fmt}"'
    return body, 200, {"Content-Type": FORMATS[fmt], **headers}
