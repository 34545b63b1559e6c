"""RFC 9457 problem details for every error the application answers with.

Every error carries the request id, so a user's bug report can be matched with
the log line. Validation errors list each failing field. Outside /api/, a
client that asks for HTML (a browser) gets a readable page instead
(snip.web.pages).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from snip.services import errors as services
from snip.services.errors import ServiceError
from snip.state import state

log = logging.getLogger("snip.errors")
PROBLEM_CONTENT_TYPE = "application/problem+json"
# Every kind of error snip answers with, documented at <SNIP_BASE_URL>/docs/errors#<kind>
# (served by snip itself, so the `type` URL always resolves) and in docs/api.md.
# A kind missing here gets the type "about:blank": nothing beyond the status code.
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "validation-error": (422, "A field is missing or wrong; `errors` names each one and why."),
    "invalid-json": (400, "The body is not JSON, or is nested too deeply; send one JSON object."),
    "bad-request": (400, "The request cannot be read, e.g. a malformed header."),
    "unauthorized": (401, "No API key, a malformed Authorization header, or an unknown or "
                     "revoked key."),
    "forbidden": (403, "The API key lacks the scope this operation needs."),
    "not-found": (404, "No link with that slug, or no such path."),
    "method-not-allowed": (405, "The path does not take this method; see the Allow header."),
    "conflict": (409, "The request conflicts with what is stored."),
    "slug-taken": (409, "Someone has that slug, or had it: deleted slugs are never reused."),
    "gone": (410, "The link expired, was deleted, or used up its max_clicks."),
    "deleted": (410, "The link was deleted; its slug stays reserved."),
    "request-entity-too-large": (413, "The body is larger than SNIP_MAX_BODY_BYTES."),
    "too-many-requests": (429, "A rate limit; wait Retry-After seconds."),
    "internal-server-error": (500, "A bug; the request id finds it in the server's logs."),
    "unavailable": (503, "A temporary failure; retry."),
    "slug-exhausted": (503, "Five random slugs in a row were taken; retry."),
    "database-unavailable": (503, "The database does not answer; retry after Retry-After "
                             "seconds."),
}  # fmt: skip


SERVICE_STATUS: dict[type[ServiceError], int] = {
    services.Invalid: 422,
    services.NotFound: 404,
    services.Gone: 410,
    services.Conflict: 409,
    services.Forbidden: 403,
    services.Unavailable: 503,
}


def status_of(exc: ServiceError) -> int:
    """The HTTP status of a service error."""
    for cls, status in SERVICE_STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


class Problem(HTTPException):
    """An error with a stable machine-readable type and optional field details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.kind = kind
        self.errors = errors
        self.extra_headers = headers or {}
        self.reason: str | None = None  # finer than kind, for people (e.g. expired, used-up)

    @classmethod
    def from_service_error(cls, exc: ServiceError) -> Problem:
        if isinstance(exc, services.Invalid):
            return cls(
                422,
                "The request has invalid fields; see errors.",
                kind=exc.kind,
                errors=[{"field": exc.field, "message": exc.message}],
            )
        return cls(status_of(exc), exc.message, kind=exc.kind)


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten webargs/marshmallow messages into [{"field": ..., "message": ...}]."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            # webargs nests messages under the request location ("json", "query").
            name = key if not prefix else f"{prefix}.{key}"
            if not prefix and key in {"json", "query", "form", "headers"}:
                name = ""
            out.extend(field_errors(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.extend({"field": prefix or "body", "message": m} for m in messages)
    elif isinstance(messages, list):
        for item in messages:
            out.extend(field_errors(item, prefix))
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out


def problem_type(kind: str) -> str:
    """The URL documenting ``kind`` (RFC 9457 ``type``), or about:blank when it has none."""
    if kind not in ERROR_TYPES:
        return "about:blank"
    return f"{state().settings.base_url}/docs/errors#{kind}"


def problem_response(exc: HTTPException):
    """problem+json; a browser gets an HTML page, a visitor maybe the operator's fallback."""
    from snip.web.pages import fallback_redirect, html_error, wants_html

    if (fallback := fallback_redirect(exc)) is not None:
        return fallback
    if wants_html():
        return html_error(exc)
    status = exc.code or 500
    kind = getattr(exc, "kind", None) or (exc.name or "error").lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": problem_type(kind),
        "title": exc.name,
        "status": status,
        "detail": exc.description,
        "instance": request.path,
        "request_id": getattr(g, "request_id", None),
    }
    errors = getattr(exc, "errors", None)
    messages = (getattr(exc, "data", None) or {}).get("messages")  # from webargs (422)
    if messages is not None:
        errors = field_errors(messages)
        body["detail"] = "The request has invalid fields; see errors."
        kind = "validation-error"
        body["type"] = problem_type(kind)
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_CONTENT_TYPE
    headers = dict(exc.get_response().headers) if status in {401, 405} else {}
    headers.update(getattr(exc, "extra_headers", {}))
    for name in ("WWW-Authenticate", "Allow", "Retry-After"):
        if name in headers:
            response.headers[name] = headers[name]
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, problem_response)

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        return problem_response(Problem.from_service_error(exc))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(exc: Exception):
        # The database is down or restarting: say so, and when to retry, not "500".
        log.warning("database unavailable: %s", exc)
        return problem_response(
            Problem(
                503,
                "the database is unavailable; retry shortly",
                kind="database-unavailable",
                headers={"Retry-After": "5"},
            )
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem_response(
            InternalServerError("Something went wrong; the request id is in the logs.")
        )
