"""The small web page at / (shorten a link with an API key) and the docs page's assets.

The docs page's JavaScript and CSS come from the swagger-ui-bundle package, served
from this server: the docs work offline and load nothing from a CDN.
"""

from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("web", __name__)
SWAGGER_UI_URL = "/static/swagger-ui/"


@bp.get("/")
def home():
    return render_template("index.html")


@bp.get(SWAGGER_UI_URL + "<path:filename>")
def swagger_ui_asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
