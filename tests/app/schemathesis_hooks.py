"""Schemathesis hooks: the API's rules that JSON Schema cannot state, applied to valid cases.

The OpenAPI document states every rule a single field must follow; these three span
fields or depend on the clock, so the document says them in words and a generated
*valid* request is brought in line with them here (invalid requests are left alone):

- an expiry lies in the future (and before the year 9000);
- ``reuse: true`` returns the existing link unchanged, so it takes no other options;
- a stats range runs forwards and covers at most 366 days ('to' defaults to today);
  an hourly series covers the last few days.

Loaded by tests/app/test_api_fuzz.py through SCHEMATHESIS_HOOKS.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import schemathesis

REUSE_EXCLUDES = ("slug", "expires_at", "max_clicks", "redirect_status", "tags")
MAX_STATS_DAYS = 366


def _future(value: str) -> str:
    try:
        when = datetime.fromisoformat(value)
        if datetime.now(UTC) < when and when.year < 9000:
            return value
    except (ValueError, OverflowError):
        return value  # not a date-time schemathesis meant as valid: let snip judge it
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _fix_body(body: dict) -> None:
    if isinstance(body.get("expires_at"), str):
        body["expires_at"] = _future(body["expires_at"])
    if body.get("reuse") is True:
        for name in REUSE_EXCLUDES:
            body.pop(name, None)


def _fix_stats_range(query: dict) -> None:
    try:
        first = date.fromisoformat(query["from"]) if "from" in query else None
        last = date.fromisoformat(query["to"]) if "to" in query else None
    except (TypeError, ValueError):
        return
    if first is None:
        return  # 'from' defaults to 30 days before 'to': always a valid range
    if last is None:
        today = datetime.now(UTC).date()
        if today - timedelta(days=MAX_STATS_DAYS - 1) <= first <= today:
            return
        last = first + timedelta(days=29)
    first, last = min(first, last), max(first, last)
    first = max(first, last - timedelta(days=MAX_STATS_DAYS - 1))
    query["from"], query["to"] = first.isoformat(), last.isoformat()


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if isinstance(case.body, dict):
        _fix_body(case.body)
    if "/stats" in case.operation.path and isinstance(case.query, dict):
        _fix_stats_range(case.query)
        if case.query.get("interval") == "hour":
            # An hourly series covers at most 31 days, within the hourly retention.
            today = datetime.now(UTC).date()
            case.query["from"], case.query["to"] = str(today - timedelta(days=3)), str(today)
    return case
