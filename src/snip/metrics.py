"""Prometheus metrics, correct when gunicorn runs several worker processes.

With METRICS_PORT set, gunicorn also listens there and /metrics answers only on
that port (404 on the application's port): the public Service and any Ingress,
Gateway or load balancer in front of it never reach the metrics, whatever the
controller. The port a request arrived on is the socket's own (SERVER_PORT before
ProxyFix, which would take it from X-Forwarded-Host).

Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set (see gunicorn_conf.py) and each
worker writes its counters to files there; /metrics sums them. Values that live
in Redis or the database (click backlog, dependency status) are read at scrape
time by a collector, so every worker reports the same truth.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from snip.state import state

# Buckets in seconds: the redirect target is p99 < 100 ms, so resolve 1-100 ms finely.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "snip_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "snip_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
REDIRECTS = Counter("snip_redirects_total", "Answers on the redirect path by status code", ["code"])
CACHE_REQUESTS = Counter("snip_cache_requests_total", "Link cache lookups", ["result"])
CLICKS_RECORDED = Counter("snip_clicks_recorded_total", "Clicks recorded", ["path"])
CLICK_FLUSH_FAILURES = Counter(
    "snip_click_flush_failures", "Failed attempts to ship the click log to the database"
)
# The redirect path's series, bound once: .labels() costs about a microsecond a call.
CACHE_HIT = CACHE_REQUESTS.labels("hit")
CACHE_MISS = CACHE_REQUESTS.labels("miss")
CLICKS_LOGGED = CLICKS_RECORDED.labels("log")
REDIRECT_BY_STATUS = {code: REDIRECTS.labels(str(code)) for code in (301, 302, 307, 308)}
LINKS_CREATED = Counter("snip_links_created_total", "Links created")
RATE_LIMITED = Counter("snip_rate_limited_total", "Requests refused by a rate limit")

bp = Blueprint("metrics", __name__)


class LiveStateCollector:
    """Reads the click backlog and dependency status when Prometheus scrapes.

    The backlog is this pod's click log (each pod reports its own; alerts take the
    max); the last shipment is the database's, so every pod reports the same.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        from snip.clicks import backlog, last_shipment
        from snip.extensions import db
        from snip.health import database_status

        snip = state(self.app)
        up = GaugeMetricFamily(
            "snip_dependency_up", "1 if snip reaches the dependency", labels=["dependency"]
        )
        with self.app.app_context():
            database = database_status()
        up.add_metric(["database"], 1.0 if database == "ok" else 0.0)
        redis_status = snip.redis.ping()
        if redis_status != "disabled":
            up.add_metric(["redis"], 1.0 if redis_status == "ok" else 0.0)
        yield up
        if database != "ok":
            return
        with self.app.app_context(), db.engine.connect() as conn:
            waiting, lag = backlog(snip.shipper.directory, conn)
            last_flush, last_size = last_shipment(conn)
        yield GaugeMetricFamily(
            "snip_clicks_pending", "Clicks in this pod's click log not yet shipped", value=waiting
        )
        yield GaugeMetricFamily(
            "snip_click_flush_lag_seconds", "Age of the oldest click not yet shipped", value=lag
        )
        if last_flush is not None:
            yield GaugeMetricFamily(
                "snip_click_flush_last_success_timestamp_seconds",
                "Unix time of the last shipment of clicks to the database (any pod)",
                value=last_flush,
            )
            yield GaugeMetricFamily(
                "snip_click_flush_last_batch_size",
                "Clicks moved by the last shipment",
                value=float(last_size),
            )


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """The HTTP metrics of one request; both the Flask hooks and the fast path call it."""
    HTTP_DURATION.labels(method, route).observe(seconds)
    HTTP_REQUESTS.labels(method, route, str(status)).inc()


def route_label() -> str:
    # The URL rule, not the path: /<slug> stays one series however many slugs exist.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def register_metrics(app: Flask) -> None:
    app.register_blueprint(bp)
    live = CollectorRegistry(auto_describe=False)
    live.register(LiveStateCollector(app))
    state(app).live_metrics = live

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        if request.endpoint == "metrics.scrape":
            return response
        started = g.get("started", time.perf_counter())
        observe_request(
            request.method, route_label(), response.status_code, time.perf_counter() - started
        )
        return response


def arrival_port() -> str:
    environ = request.environ
    return str(environ.get("werkzeug.proxy_fix.orig", environ).get("SERVER_PORT", ""))


@bp.get("/metrics")
def scrape() -> Response:
    metrics_port = os.environ.get("METRICS_PORT", "0").strip() or "0"
    if metrics_port != "0" and arrival_port() != metrics_port:
        abort(404)
    registry = REGISTRY  # a single process (flask run, in-process tests)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    live = state().live_metrics
    body = generate_latest(registry) + (generate_latest(live) if live is not None else b"")
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
