"""The small web page at / (shorten a link with an API key).

The docs page's assets are served by snip.api.docs.
"""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    return render_template("index.html")
