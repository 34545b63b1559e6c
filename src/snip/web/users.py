"""Users, for admins: invite (a one-time link shown to the admin), disable, reset.

snip sends no e-mail: the admin passes the link on. It works once, for 7 days.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from sqlalchemy import func, select

from snip import accounts
from snip.extensions import db, limit_writes
from snip.models import ApiKey, Link, User
from snip.state import state
from snip.web import bp
from snip.web.forms import InviteForm
from snip.web.session import admin_required


def user_rows():
    links = (
        select(Link.owner_id, func.count().label("n"))
        .where(Link.deleted_at.is_(None))
        .group_by(Link.owner_id)
        .subquery()
    )
    keys = (
        select(ApiKey.user_id, func.count().label("n"))
        .where(ApiKey.revoked_at.is_(None))
        .group_by(ApiKey.user_id)
        .subquery()
    )
    stmt = (
        select(User, func.coalesce(links.c.n, 0), func.coalesce(keys.c.n, 0))
        .outerjoin(links, links.c.owner_id == User.id)
        .outerjoin(keys, keys.c.user_id == User.id)
        .order_by(User.id)
    )
    return db.session.execute(stmt).all()


def accept_url(token: str) -> str:
    return f"{state().settings.base_url}{url_for('web.accept', token=token)}"


def render_users(
    form: InviteForm,
    *,
    link: str | None = None,
    link_for: str | None = None,
    error: str | None = None,
    status: int = 200,
):
    return render_template(
        "users.html", form=form, users=user_rows(), link=link, link_for=link_for, error=error
    ), status


@bp.route("/users", methods=["GET", "POST"])
@limit_writes
@admin_required
def users():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = accounts.invite(form.email.data or "", form.role.data or "member")
        except accounts.AccountError as exc:
            db.session.rollback()
            return render_users(form, error=str(exc), status=400)
        return render_users(
            InviteForm(formdata=None),
            link=accept_url(invitation.token),
            link_for=f"Invitation for {invitation.user.email}",
            status=201,
        )
    return render_users(form, status=400 if form.errors else 200)


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/users/<int:user_id>/reset")
@limit_writes
@admin_required
def reset_user(user_id: int):
    invitation = accounts.reset(_user_or_404(user_id))
    return render_users(
        InviteForm(formdata=None),
        link=accept_url(invitation.token),
        link_for=f"Password reset for {invitation.user.email} (signed out everywhere)",
    )


@bp.post("/users/<int:user_id>/disable")
@limit_writes
@admin_required
def disable_user(user_id: int):
    return _set_disabled(user_id, True)


@bp.post("/users/<int:user_id>/enable")
@limit_writes
@admin_required
def enable_user(user_id: int):
    return _set_disabled(user_id, False)


def _set_disabled(user_id: int, disabled: bool):
    user = _user_or_404(user_id)
    try:
        accounts.set_disabled(user, disabled, by=g.actor)
    except accounts.AccountError as exc:
        return render_users(InviteForm(formdata=None), error=str(exc), status=400)
    flash(f"{user.email} is {'disabled' if disabled else 'enabled again'}.")
    return redirect(url_for("web.users"))
