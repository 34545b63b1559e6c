"""Stats API: series per hour or day in a time zone, breakdowns by every dimension,
CSV export and the hourly retention; clicks go through the real log and shipper."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from snip.clicks import encode
from tests.app.conftest import create_key, ship_clicks, shorten

PARIS = ZoneInfo("Europe/Paris")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def log_click_at(app, link_id: int, when: datetime, referrer: str = "", agent: str = FIREFOX):
    """A click as the redirect logs it, at a chosen moment."""
    line = encode(when.timestamp(), link_id, False, "FR", referrer, agent)
    app.extensions["snip"].clicks.log.append(line)


def link_id(client, auth, slug: str) -> int:
    from snip.extensions import db
    from snip.models import Link

    shorten(client, auth, slug=slug)
    with client.application.app_context():
        return db.session.query(Link.id).filter(Link.slug == slug).scalar()


def test_series_per_day_and_per_hour_follow_the_time_zone(app, client, auth):
    lid = link_id(client, auth, "tzone")
    base = datetime.now(UTC).date() - timedelta(days=3)
    late = datetime.combine(base, time(23, 30), UTC)  # 23:30 UTC: the next day in Paris
    early = late + timedelta(hours=1)  # 00:30 UTC
    log_click_at(app, lid, late)
    log_click_at(app, lid, early)
    ship_clicks(app)
    span = {"from": str(base - timedelta(days=1)), "to": str(base + timedelta(days=1))}

    utc = client.get("/api/v1/links/tzone/stats/series", query_string=span, headers=auth)
    assert utc.status_code == 200, utc.get_json()
    assert [(p["start"][:10], p["humans"]) for p in utc.get_json()["points"]] == [
        (str(base), 1),
        (str(base + timedelta(days=1)), 1),
    ]

    paris = client.get(
        "/api/v1/links/tzone/stats/series",
        query_string={**span, "tz": "Europe/Paris"},
        headers=auth,
    ).get_json()
    local_day = late.astimezone(PARIS).date()
    assert [(p["start"], p["humans"]) for p in paris["points"]] == [
        (datetime.combine(local_day, time.min, PARIS).isoformat(), 2)
    ]

    hourly = client.get(
        "/api/v1/links/tzone/stats/series",
        query_string={**span, "tz": "Europe/Paris", "interval": "hour"},
        headers=auth,
    ).get_json()
    assert [p["start"] for p in hourly["points"]] == [
        late.replace(minute=0).astimezone(PARIS).isoformat(),
        early.replace(minute=0).astimezone(PARIS).isoformat(),
    ]


def test_breakdowns_cover_every_dimension_and_export_as_csv(app, client, auth):
    lid = link_id(client, auth, "split")
    now = datetime.now(UTC)
    log_click_at(app, lid, now, referrer="news.example")
    log_click_at(app, lid, now, referrer="news.example")
    log_click_at(app, lid, now, referrer="=cmd|calc")  # a hostile Referer host
    log_click_at(app, lid, now, agent="Googlebot/2.1 (+http://www.google.com/bot.html)")
    ship_clicks(app)
    expected = {
        "country": {"FR": (3, 1)},
        "browser": {"Firefox": (3, 0), "Googlebot": (0, 1)},
        "os": {"Linux": (3, 0), "Other": (0, 1)},
        "device": {"desktop": (3, 0), "bot": (0, 1)},
        "referrer": {"news.example": (2, 0), "=cmd|calc": (1, 0), "": (0, 1)},
    }
    for dimension, values in expected.items():
        got = client.get(
            "/api/v1/links/split/stats/breakdown",
            query_string={"dimension": dimension},
            headers=auth,
        )
        assert got.status_code == 200, got.get_json()
        items = {i["value"]: (i["humans"], i["bots"]) for i in got.get_json()["items"]}
        assert items == values, dimension
    summary = client.get("/api/v1/links/split/stats", headers=auth).get_json()
    assert set(summary["breakdowns"]) == set(expected)

    exported = client.get(
        "/api/v1/links/split/stats/breakdown.csv",
        query_string={"dimension": "referrer"},
        headers=auth,
    )
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["value", "humans", "bots", "clicks"]
    assert ["'=cmd|calc", "1", "0", "1"] in rows  # never a live spreadsheet formula
    series = client.get("/api/v1/links/split/stats/series.csv", headers=auth)
    assert series.get_data(as_text=True).splitlines()[0] == "start,humans,bots"


def test_hourly_counts_past_the_retention_go_but_days_stay(make_app, backend_env):
    from snip.cli import flush_step

    app = make_app({**backend_env, "SNIP_STATS_HOURLY_RETENTION_DAYS": "2"})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    lid = link_id(client, auth, "old")
    long_ago = datetime.now(UTC) - timedelta(days=5)
    log_click_at(app, lid, long_ago)
    log_click_at(app, lid, datetime.now(UTC))
    with app.app_context():
        assert "pruned 6 hourly rows" in flush_step()  # the 'all' row and 5 dimensions
    span = {"from": str(long_ago.date()), "to": str(datetime.now(UTC).date())}
    days = client.get("/api/v1/links/old/stats/series", query_string=span, headers=auth)
    assert sum(p["humans"] for p in days.get_json()["points"]) == 2
    hours = client.get(
        "/api/v1/links/old/stats/series", query_string={**span, "interval": "hour"}, headers=auth
    )
    assert hours.status_code == 422
    assert "kept 2 days" in hours.get_json()["errors"][0]["message"]


def test_an_unknown_time_zone_is_a_clear_422(client, auth):
    shorten(client, auth, slug="zone")
    got = client.get(
        "/api/v1/links/zone/stats/series", query_string={"tz": "Mars/Olympus"}, headers=auth
    )
    assert got.status_code == 422
    assert got.get_json()["errors"][0]["field"] == "tz"
    assert "unknown time zone" in got.get_json()["errors"][0]["message"]
