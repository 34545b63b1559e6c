"""Dashboard sessions: the signed cookie, who is signed in, CSRF, page headers.

The cookie holds the user id and the user's ``session_version``; bumping that
number (disable, reset, new password) signs the user out on every device. The
cookie is HttpOnly, SameSite=Lax, and Secure unless snip runs in development on
plain http. Every POST to the dashboard must carry the form's CSRF token; the
API is exempt because it authenticates with bearer keys, never with cookies.
"""

from __future__ import annotations

import functools
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from snip.extensions import db
from snip.models import User
from snip.state import state

csrf = CSRFProtect()
SESSION_LIFETIME = timedelta(hours=12)


def init_app(app: Flask) -> None:
    settings = state(app).settings
    app.config.update(
        SECRET_KEY=settings.secret_key or _development_secret(Path(app.instance_path)),
        SESSION_COOKIE_NAME="snip_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production or settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The API authenticates with bearer keys; only dashboard forms are checked.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token is bound to the session; a page left open for hours still submits.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.base_url.startswith("https://"),
    )
    csrf.init_app(app)


def _development_secret(instance: Path) -> str:
    """One key for all workers and restarts in development, kept in instance/secret_key."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or _development_secret_retry(path)
    with os.fdopen(fd, "w") as handle:
        secret = secrets.token_urlsafe(48)
        handle.write(secret)
    return secret


def _development_secret_retry(path: Path) -> str:
    # Another worker created the file a moment ago and is still writing it.
    import time

    for _ in range(50):
        time.sleep(0.02)
        if value := path.read_text().strip():
            return value
    raise RuntimeError(f"{path} stays empty; delete it and start again")


def sign_in(user: User) -> None:
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["ver"] = user.session_version


def sign_out() -> None:
    session.clear()


def current_user() -> User | None:
    if "web_user" not in g:
        g.web_user = None
        uid = session.get("uid")
        if uid is not None:
            user = db.session.get(User, uid)
            if user is not None and user.active and session.get("ver") == user.session_version:
                g.web_user = user
            else:
                session.clear()
    return g.web_user


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must never send someone to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("web.links")


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        g.actor = user
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user().is_admin:  # type: ignore[union-attr]
            abort(403)
        return view(*args, **kwargs)

    return wrapper
