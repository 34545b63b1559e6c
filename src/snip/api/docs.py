"""The API's documentation served by snip itself: Swagger UI's files and the error types.

Swagger UI (the page at /docs, from flask-smorest) loads its JavaScript and CSS from
this server, never from a CDN, so the docs work offline and under a strict CSP. The
files come from the flask-swagger-ui package, which follows Swagger UI's releases
(swagger-ui-bundle stopped at 4.x); only its ``dist`` folder is used.

/docs/errors explains every problem ``type`` snip answers with; each type URL points
at an anchor on this page.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, render_template, send_from_directory

from snip.errors import ERROR_TYPES

bp = Blueprint("apidocs", __name__)
SWAGGER_UI_URL = "/static/swagger-ui/"
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


@bp.get(SWAGGER_UI_URL + "<path:filename>")
def swagger_ui_asset(filename: str):
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=86400)


@bp.get("/docs/errors")
def error_types():
    return render_template("errors.html", error_types=sorted(ERROR_TYPES.items()))
