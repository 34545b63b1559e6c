"""The fast door to the redirect: a WSGI layer that answers a cached live link
without the Flask request cycle (routing, request/response objects, hooks).

It answers only when the answer is certain: GET or HEAD of one path segment that
Flask would route to the redirect view (no fixed route of that name), and a cached
link that is live with no use limit. Everything else (cache misses, unknown, dead or
one-time links, errors) goes on to Flask unchanged. The decisions, the click, the
headers, the request id and the metrics are the same functions the Flask view and
hooks use (redirect.py, logs.py, metrics.py), so both doors answer alike. If
anything fails before the click is recorded, the request is handed to Flask, whose
error handlers answer it: there is one error path, not two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from flask import Flask

from snip import metrics
from snip.logs import current_request_id, request_id_from
from snip.redirect import (
    LOOKUP_KEY,
    ROUTE,
    Visit,
    lookup,
    record_click,
    redirect_headers,
    servable_fast,
)
from snip.state import state
from snip.validation import is_slug

log = logging.getLogger("snip.fastpath")
STATUS_LINES = {301: "301 Moved Permanently", 302: "302 Found", 307: "307 Temporary Redirect",
                308: "308 Permanent Redirect"}  # fmt: skip


class FastRedirects:
    def __init__(self, app: Flask, inner: Callable) -> None:
        self.app = app
        self.inner = inner
        self._fixed: frozenset[str] | None = None

    def fixed_paths(self) -> frozenset[str]:
        """One-segment paths Flask serves itself (/healthz, /docs, ...): never a slug here."""
        if self._fixed is None:
            self._fixed = frozenset(
                rule.rule.lstrip("/")
                for rule in self.app.url_map.iter_rules()
                if not rule.arguments and rule.rule.count("/") == 1
            )
        return self._fixed

    def __call__(self, wsgi: dict, start_response: Callable) -> Iterable[bytes]:
        # ``wsgi`` is the WSGI environ (request headers as HTTP_*), not the process's.
        started = time.perf_counter()
        method = wsgi["REQUEST_METHOD"]
        slug = wsgi.get("PATH_INFO", "")[1:]
        if (
            (method != "GET" and method != "HEAD")
            or not is_slug(slug)
            or slug in self.fixed_paths()
        ):
            return self.inner(wsgi, start_response)
        try:
            snip = state(self.app)
            link = lookup(snip, slug)
            if not servable_fast(link, time.time()):
                wsgi[LOOKUP_KEY] = link  # Flask decides, without asking the cache again
                return self.inner(wsgi, start_response)
            request_id = request_id_from(wsgi.get("HTTP_X_REQUEST_ID"))
            record_click(
                snip,
                link,  # type: ignore[arg-type]
                Visit(
                    method=method,
                    user_agent=wsgi.get("HTTP_USER_AGENT", ""),
                    address=wsgi.get("REMOTE_ADDR"),
                    referrer=wsgi.get("HTTP_REFERER"),
                    dnt=wsgi.get("HTTP_DNT"),
                    gpc=wsgi.get("HTTP_SEC_GPC"),
                ),
            )
        except Exception:
            log.exception("fast path failed before the click; handing the request to Flask")
            return self.inner(wsgi, start_response)
        status = link.status  # type: ignore[union-attr]
        start_response(STATUS_LINES[status], redirect_headers(link, request_id))  # type: ignore[arg-type]
        metrics.observe_request(method, ROUTE, status, time.perf_counter() - started)
        current_request_id.set("-")
        return [b""]


def install(app: Flask) -> None:
    """Put the fast door in front of Flask (inside ProxyFix, which must see it first)."""
    app.wsgi_app = FastRedirects(app, app.wsgi_app)  # type: ignore[method-assign,assignment]
