"""Liveness and readiness.

/healthz answers from the process alone, so a slow database never gets pods
killed. /readyz asks the database (required) and Redis (optional: without it
snip serves from PostgreSQL, slower, and says "degraded").
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from snip.extensions import db
from snip.state import state

bp = Blueprint("health", __name__)


def database_status() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        cause = getattr(exc, "orig", None) or exc  # the driver's error says more
        return f"error: {type(cause).__name__}: {str(cause).strip()[:200]}"
    finally:
        db.session.remove()


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": database_status(), "redis": state().redis.ping()}
    if checks["database"] != "ok":
        status, code = "down", 503
    elif checks["redis"] not in {"ok", "disabled"}:
        status, code = "degraded", 200  # still serving: redirects fall back to the database
    else:
        status, code = "ok", 200
    return jsonify(status=status, checks=checks), code
