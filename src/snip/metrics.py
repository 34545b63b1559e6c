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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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
LINKS_CREATED = Counter("snip_links_created_total", "Links created")
RATE_LIMITED = Counter("snip_rate_limited_total", "Requests refused by a rate limit")

bp = Blueprint("metrics", __name__)


class LiveStateCollector:
    """Reads the click backlog and dependency status when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        from snip.clicks import FLUSH_FAILURES, LAST_BATCH_SIZE, LAST_FLUSH, backlog
        from snip.health import database_status

        snip = state(self.app)
        up = GaugeMetricFamily(
            "snip_dependency_up", "1 if snip reaches the dependency", labels=["dependency"]
        )
        with self.app.app_context():
            up.add_metric(["database"], 1.0 if database_status() == "ok" else 0.0)
        redis_status = snip.redis.ping()
        if redis_status != "disabled":
            up.add_metric(["redis"], 1.0 if redis_status == "ok" else 0.0)
        yield up
        client = snip.redis.client
        if redis_status != "ok" or client is None:
            return
        waiting, lag = backlog(client)
        last_flush, last_size, failures = client.mget(LAST_FLUSH, LAST_BATCH_SIZE, FLUSH_FAILURES)
        yield GaugeMetricFamily(
            "snip_clicks_pending", "Clicks waiting in Redis for the flusher", value=waiting
        )
        yield GaugeMetricFamily(
            "snip_click_flush_lag_seconds", "Age of the oldest click not yet flushed", value=lag
        )
        if last_flush is not None:
            yield GaugeMetricFamily(
                "snip_click_flush_last_success_timestamp_seconds",
                "Unix time of the last successful flush",
                value=float(last_flush),
            )
            yield GaugeMetricFamily(
                "snip_click_flush_last_batch_size",
                "Clicks moved by the last flush",
                value=float(last_size or 0),
            )
        yield CounterMetricFamily(
            "snip_click_flush_failures", "Failed flush attempts", value=float(failures or 0)
        )


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
        route = route_label()
        HTTP_DURATION.labels(request.method, route).observe(
            time.perf_counter() - g.get("started", time.perf_counter())
        )
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
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
