"""Sign in, sign out, and setting a password from an invite or reset link.

Sign-in failures all read "Email or password is wrong" whether or not the
address has an account, and cost the same time (see accounts.authenticate).
Two limits stop guessing: per client address, and a lockout per e-mail after a
few failures that applies alike to existing and unknown addresses, so it
reveals nothing either.
"""

from __future__ import annotations

import hashlib

from flask import flash, redirect, render_template, request, url_for

from snip import accounts
from snip.extensions import limiter
from snip.net import client_address
from snip.web import bp
from snip.web.forms import SetPasswordForm, SignInForm
from snip.web.session import current_user, safe_next, sign_in, sign_out

LOGIN_LIMIT_PER_ADDRESS = "20 per minute"
# After this many failures for one e-mail, sign-in is refused for that e-mail
# (even with the right password) until the window has passed.
LOGIN_LOCKOUT = "5 per 15 minutes"
LOCKOUT_MESSAGE = (
    "Too many failed sign-ins for this account or from your address. "
    "Wait 15 minutes, then try again."
)


def email_bucket() -> str:
    email = accounts.normalize_email(request.form.get("email", ""))
    return "login:" + hashlib.sha256(email.encode()).hexdigest()[:24]


def failed(response) -> bool:
    return response.status_code == 401


@bp.get("/")
def home():
    if current_user() is not None:
        return redirect(url_for("web.links"))
    if accounts.count_users() == 0:
        return render_template("first_run.html")
    return redirect(url_for("web.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ADDRESS, key_func=client_address)
@limiter.limit(LOGIN_LOCKOUT, key_func=email_bucket, deduct_when=failed)
def login():
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            sign_in(user)
            return redirect(safe_next(request.args.get("next")))
        return render_template("login.html", form=form, error="Email or password is wrong."), 401
    if current_user() is not None and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", form=form), 400 if form.errors else 200


def locked_out_page():
    """What the sign-in form shows when a limit above is reached (429)."""
    return render_template("login.html", form=SignInForm(), error=LOCKOUT_MESSAGE), 429


@bp.post("/logout")
def logout():
    sign_out()
    flash("You are signed out.")
    return redirect(url_for("web.login"))


@bp.route("/accept/<token>", methods=["GET", "POST"])
def accept(token: str):
    """Invite and reset links: choose a password, then sign in."""
    user = accounts.user_for_token(token)
    if user is None:
        return render_template("accept.html", form=None, user=None), 404
    form = SetPasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            accounts.set_password_with_token(token, form.password.data or "")
        except accounts.AccountError as exc:
            error = str(exc)
        else:
            sign_out()
            flash("Your password is set. Sign in with it now.")
            return redirect(url_for("web.login"))
    status = 400 if (error or form.errors) else 200
    return render_template("accept.html", form=form, user=user, error=error), status
