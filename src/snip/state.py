"""The per-application objects the request handlers share (settings, Redis, cache, clicks)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from snip.cache import LinkCache
from snip.clicks import ClickRecorder
from snip.config import Settings
from snip.redis_client import RedisGuard


@dataclass
class SnipState:
    settings: Settings
    redis: RedisGuard
    cache: LinkCache
    clicks: ClickRecorder


def state() -> SnipState:
    return current_app.extensions["snip"]
