"""Clicks: recorded without a database write, flushed in batches, never lost, never doubled."""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import subprocess
import threading
import time

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from snip import clicks
from snip.clicks import ClickFlusher
from snip.extensions import db
from snip.models import ClickStat, FlushedBatch, Link
from tests.app.conftest import _truncate, create_key, shorten
from tests.support import servers


def total_clicks(app) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.coalesce(func.sum(ClickStat.clicks), 0))))


def flusher(app) -> ClickFlusher:
    return ClickFlusher(app.extensions["snip"].redis.client, lambda: db.session)


@pytest.fixture
def pg_app(make_app, pg_env):
    """snip on PostgreSQL + Redis: (app, test client, read+write auth headers)."""
    app = make_app(pg_env)
    return app, app.test_client(), {"Authorization": f"Bearer {create_key(app)}"}


def test_redirect_puts_the_click_in_redis_not_the_database(pg_app, pg_env):
    app, client, auth = pg_app
    shorten(client, auth, slug="counted")
    client.get(
        "/counted", headers={"User-Agent": "Mozilla/5.0", "Referer": "https://news.example/item"}
    )
    client.get("/counted", headers={"User-Agent": "Googlebot/2.1"})
    client.get("/counted", headers={"User-Agent": "Mozilla/5.0"})
    assert total_clicks(app) == 0
    assert (
        int(redis.Redis.from_url(pg_env["REDIS_URL"]).hget(clicks.PENDING, clicks.TOTAL_FIELD)) == 3
    )

    with app.app_context():
        assert flusher(app).flush_once() == 3
    stats = client.get("/api/v1/links/counted/stats", headers=auth).get_json()
    assert (stats["total"], stats["humans"], stats["bots"]) == (3, 2, 1)
    assert {"host": "news.example", "clicks": 1} in stats["top_referrers"]
    assert {"host": "(direct)", "clicks": 2} in stats["top_referrers"]
    assert stats["daily"][0]["humans"] == 2


def test_embedded_mode_writes_clicks_directly(make_app, sqlite_env):
    app = make_app(sqlite_env)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app)}"}
    shorten(client, auth, slug="direct")
    client.get("/direct")
    assert total_clicks(app) == 1


def test_clicks_fall_back_to_the_database_while_redis_is_down(
    make_app, migrated_postgres_url, throwaway_redis
):
    _truncate(migrated_postgres_url)
    app = make_app({"DATABASE_URL": migrated_postgres_url, "REDIS_URL": throwaway_redis.url})
    client = app.test_client()
    shorten(client, {"Authorization": f"Bearer {create_key(app)}"}, slug="resilient")
    throwaway_redis.stop()
    assert client.get("/resilient").status_code == 302
    assert total_clicks(app) == 1


def test_a_batch_written_before_a_crash_is_not_written_again(pg_app):
    """Crash between the database commit and forgetting the batch in Redis."""
    app, client, auth = pg_app
    shorten(client, auth, slug="once")
    for _ in range(5):
        client.get("/once")
    with app.app_context():
        f = flusher(app)
        batch = f.seal()
        assert f.apply(batch, f.read_batch(batch)) == 5  # committed ... then "killed"
        assert f.flush_once() == 0  # the rerun only forgets the batch
        assert f.flush_once() == 0
    assert total_clicks(app) == 5


def test_a_batch_not_committed_before_a_crash_is_written_on_the_next_run(pg_app):
    app, client, auth = pg_app
    shorten(client, auth, slug="later")
    for _ in range(4):
        client.get("/later")
    with app.app_context():
        f = flusher(app)
        f.seal()  # sealed ... then "killed" before the transaction
        client.get("/later")  # a new click arrives meanwhile
        assert f.flush_once() == 5
    assert total_clicks(app) == 5


def test_clicks_for_a_purged_link_do_not_block_the_batch(pg_app):
    app, client, auth = pg_app
    shorten(client, auth, slug="keep")
    shorten(client, auth, slug="purged")
    client.get("/keep")
    client.get("/purged")
    with app.app_context():
        db.session.execute(Link.__table__.delete().where(Link.slug == "purged"))
        db.session.commit()
        assert flusher(app).flush_once() == 1
    assert total_clicks(app) == 1


def test_killing_the_flusher_mid_flush_loses_and_doubles_nothing(make_app, pg_env):
    """SIGKILL the real `snip clicks flush` process at random moments, many times."""
    app = make_app(pg_env)
    r = redis.Redis.from_url(pg_env["REDIS_URL"])
    with app.app_context():
        links = [
            Link(slug=f"k{i:05d}", url="https://example.com/", url_hash="x", redirect_status=302)
            for i in range(300)
        ]
        db.session.add_all(links)
        db.session.commit()
        ids = [link.id for link in links]

    rng = random.Random(7)
    sent = 0
    mid_flush_kills = 0  # kills that left a sealed batch behind in Redis
    env = servers.snip_env(**pg_env)
    for _round in range(8):
        # Many distinct counters make each flush take long enough to be hit mid-way.
        pipe = r.pipeline()
        for link_id in ids:
            for host in ("a.example", "b.example", "c.example", "d.example"):
                for bot in (False, True):
                    n = rng.randint(1, 3)
                    field = clicks.click_field(
                        link_id, time_day(), bot, f"{rng.randint(0, 40)}.{host}"
                    )
                    pipe.hincrby(clicks.PENDING, field, n)
                    pipe.hincrby(clicks.PENDING, clicks.TOTAL_FIELD, n)
                    sent += n
        pipe.execute()
        proc = subprocess.Popen(
            [str(servers.VENV_BIN / "snip"), "clicks", "flush"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.2))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            mid_flush_kills += bool(r.scard(clicks.BATCHES))
        proc.wait()

    result = servers.run_snip_cli("clicks", "flush", env=env)
    assert result.returncode == 0, result.stderr
    assert mid_flush_kills >= 2, (
        "the flusher was not killed mid-flush often enough to prove anything"
    )
    assert total_clicks(app) == sent
    assert r.exists(clicks.PENDING, clicks.BATCHES) == 0
    with app.app_context():
        assert db.session.scalar(select(func.sum(FlushedBatch.clicks))) == sent


def time_day():
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def test_two_flushers_racing_on_one_batch_count_it_once(pg_app):
    """Two flushers apply the same sealed batch at the same moment: one commits it,
    the other finds it written or fails on the batch id; it is counted once."""
    app, client, auth = pg_app
    shorten(client, auth, slug="raced")
    for _ in range(6):
        client.get("/raced")
    with app.app_context():
        batch = flusher(app).seal()
    start = threading.Barrier(2)

    def apply_in_own_session():
        with app.app_context():
            f = flusher(app)
            counts = f.read_batch(batch)
            start.wait()
            try:
                return f.apply(batch, counts)
            except IntegrityError:
                return "refused"

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: apply_in_own_session(), range(2)))
    assert outcomes.count(6) == 1
    assert set(outcomes) - {6} <= {None, "refused"}
    assert total_clicks(app) == 6
