"""The per-application objects the request handlers share (settings, Redis, cache, clicks).

``state()`` is the one way to reach them: inside a request or app context it finds
the current app; code holding an app (a metrics collector, a thread) passes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app, has_app_context
from prometheus_client import CollectorRegistry

from snip.cache import LinkCache
from snip.config import Settings
from snip.redis_client import RedisGuard

if TYPE_CHECKING:  # these modules import this one (directly or through metrics)
    from snip.clicks import ClickRecorder, ClickShipper
    from snip.health import DatabaseCheck

EXTENSION_NAME = "snip"


@dataclass
class SnipState:
    settings: Settings
    redis: RedisGuard
    cache: LinkCache
    clicks: ClickRecorder
    shipper: ClickShipper
    # Values read from Redis and the database at scrape time (set by snip.metrics).
    live_metrics: CollectorRegistry | None = None
    # The schema check /readyz and metrics share (created on first use by snip.health).
    database_check: DatabaseCheck | None = None


def init_state(app: Flask, snip_state: SnipState) -> None:
    app.extensions[EXTENSION_NAME] = snip_state


def state(app: Flask | None = None) -> SnipState:
    return (app or current_app).extensions[EXTENSION_NAME]


def current_state() -> SnipState | None:
    """The current app's state; None outside an app context or in an app without snip."""
    if not has_app_context():
        return None
    return current_app.extensions.get(EXTENSION_NAME)
