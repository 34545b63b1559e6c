"""API keys in the dashboard: each user makes and revokes their own (admins: all).

A new key is shown once, on the page that answers the form, and never again:
only its SHA-256 is stored.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for

from snip.extensions import limit_writes
from snip.services import keys as key_service
from snip.services.errors import Invalid, NotFound
from snip.web import bp
from snip.web.forms import KeyForm
from snip.web.session import login_required


def key_rows():
    """Live keys first, newest first."""
    keys = key_service.list_keys(g.actor)
    return sorted(keys, key=lambda k: (k.revoked_at is not None, -k.id))


@bp.route("/keys", methods=["GET", "POST"])
@limit_writes
@login_required
def keys():
    form = KeyForm()
    new_plain = None
    if form.validate_on_submit():
        try:
            _row, new_plain = key_service.create_key(
                name=form.name.data or "", scopes=list(form.scopes.data or []), user=g.actor
            )
        except Invalid as exc:
            field = form.name if exc.field == "name" else form.scopes
            field.errors = [*field.errors, exc.message]
        else:
            form = KeyForm(formdata=None)
    status = 400 if form.errors else (201 if new_plain else 200)
    return render_template("keys.html", form=form, keys=key_rows(), new_key=new_plain), status


@bp.post("/keys/<int:key_id>/revoke")
@limit_writes
@login_required
def revoke_key(key_id: int):
    try:
        key = key_service.revoke_key(key_id, g.actor)
    except NotFound:
        abort(404)
    flash(f"Key “{key.name}” is revoked; it stops working at once.")
    return redirect(url_for("web.keys"))
