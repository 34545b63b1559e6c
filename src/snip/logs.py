"""Logging: one JSON object per line in production, readable text locally.

Every record carries the request id of the request it belongs to ("-" outside
a request), so a line in the logs can be matched with an error a user saw.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar

from flask import Flask, g
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# The request being served: set by both the Flask hook and the WSGI fast path.
current_request_id: ContextVar[str] = ContextVar("snip_request_id", default="-")


def request_id_from(incoming: str | None) -> str:
    """Take the caller's X-Request-ID when it is sane, else make one; remember it."""
    request_id = incoming if incoming and REQUEST_ID.match(incoming) else os.urandom(16).hex()
    current_request_id.set(request_id)
    return request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


def configure_logging(level: str, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("snip")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def register_request_id(app: Flask) -> None:
    """Take the caller's X-Request-ID when it is sane, else make one; echo it back."""

    @app.before_request
    def assign_request_id() -> None:
        from flask import request

        g.request_id = request_id_from(request.headers.get("X-Request-ID"))

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "-")
        return response

    @app.teardown_request
    def forget_request_id(_exc) -> None:
        current_request_id.set("-")
