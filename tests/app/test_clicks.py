"""Clicks: logged on the redirect path without a network round trip, shipped to the
database in batches, never lost and never counted twice, whoever dies when."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from sqlalchemy import select

from snip import clicklog, legacy_clicks
from snip.clicks import ClickShipper, encode
from snip.extensions import db
from snip.legacy_clicks import ClickFlusher
from snip.models import ClickDaily, ClickHourly, Link
from tests.app.conftest import create_key, ship_clicks, shorten, total_clicks
from tests.support import servers


def stats(client, auth, slug: str) -> dict:
    return client.get(f"/api/v1/links/{slug}/stats", headers=auth).get_json()


def test_a_redirect_logs_the_click_and_the_shipper_counts_it(app, client, auth):
    shorten(client, auth, slug="counted")
    client.get(
        "/counted", headers={"User-Agent": "Mozilla/5.0", "Referer": "https://news.example/item"}
    )
    client.get("/counted", headers={"User-Agent": "Googlebot/2.1"})
    client.get("/counted", headers={"User-Agent": "Mozilla/5.0"})
    client.head("/counted")  # previews and link checkers: never a click
    assert total_clicks(app) == 0  # logged on disk, not yet in the database
    assert ship_clicks(app) == 3
    assert ship_clicks(app) == 0  # shipped once only
    got = stats(client, auth, "counted")
    assert (got["total"], got["humans"], got["bots"]) == (3, 2, 1)
    assert {"host": "news.example", "clicks": 1} in got["top_referrers"]
    assert {"host": "(direct)", "clicks": 2} in got["top_referrers"]


def test_the_click_log_survives_the_app_and_is_adopted_by_the_next_one(make_app, backend_env):
    """A worker that dies (here: an app object dropped without shipping) leaves its log;
    a successor on the same folder adopts it once its lock is free."""
    first = make_app(backend_env)
    client = first.test_client()
    auth = {"Authorization": f"Bearer {create_key(first)}"}
    shorten(client, auth, slug="orphan")
    for _ in range(4):
        client.get("/orphan")
    segment = first.extensions["snip"].clicks.log.segment
    successor = make_app(backend_env)
    assert ship_clicks(successor) == 0  # the writer still holds its lock: not an orphan
    first.extensions["snip"].clicks.log.close()  # as the kernel does when a process dies
    assert ship_clicks(successor) == 4
    assert not (successor.extensions["snip"].shipper.directory / segment).exists()
    assert total_clicks(successor) == 4


def test_dimensions_land_in_the_right_buckets(app, client, auth):
    shorten(client, auth, slug="dims")
    visits = [
        # (user agent, address, expected browser, os, device, country)
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "8.8.8.8",
            ("Chrome", "Windows", "desktop", "US"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "81.2.69.160",
            ("Mobile Safari", "iOS", "mobile", "GB"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "2a00:1450:4001::1",
            ("Mobile Safari", "iOS", "tablet", "DE"),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
            "10.1.2.3",  # private: no country
            ("Firefox", "Linux", "desktop", ""),
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "8.8.4.4",
            ("bingbot", "Other", "bot", "US"),
        ),
    ]
    for agent, address, _ in visits:
        client.get("/dims", headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address})
    ship_clicks(app)
    with app.app_context():
        rows = db.session.execute(
            select(ClickHourly.dimension, ClickHourly.value, ClickHourly.is_bot, ClickHourly.clicks)
        ).all()
    seen = {(d, v, b): n for d, v, b, n in rows}
    for _agent, _address, (browser, os_family, device, country) in visits:
        bot = device == "bot"
        for dimension, value in (
            ("browser", browser),
            ("os", os_family),
            ("device", device),
            ("country", country),
        ):
            assert seen.get((dimension, value, bot), 0) >= 1, (dimension, value, bot, seen)
    assert seen[("all", "", False)] == 4
    assert seen[("all", "", True)] == 1
    assert seen[("country", "US", False)] == 1  # the bot's US visit is apart


def test_no_address_and_no_user_agent_is_stored(app, client, auth):
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
    shorten(client, auth, slug="private")
    client.get("/private", headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    log_dir = app.extensions["snip"].shipper.directory
    logged = b"".join(p.read_bytes() for p in log_dir.iterdir())
    assert b"8.8.8.8" not in logged  # the address never reaches the disk
    ship_clicks(app)
    with app.app_context():
        values = {v for (v,) in db.session.execute(select(ClickHourly.value))} | {
            v for (v,) in db.session.execute(select(ClickDaily.value))
        }
    assert "8.8.8.8" not in values
    assert agent not in values


def test_do_not_track_is_counted_without_any_dimension(app, client, auth):
    shorten(client, auth, slug="dnt")
    client.get(
        "/dnt",
        headers={"User-Agent": "Mozilla/5.0 (iPhone)", "DNT": "1", "Referer": "https://a.example/"},
        environ_base={"REMOTE_ADDR": "8.8.8.8"},
    )
    client.get("/dnt", headers={"Sec-GPC": "1"}, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    ship_clicks(app)
    with app.app_context():
        rows = set(db.session.execute(select(ClickHourly.dimension, ClickHourly.value)).all())
    assert rows == {("all", ""), ("country", ""), ("browser", ""), ("os", ""), ("device", ""),
                    ("referrer", "")}  # fmt: skip
    assert stats(client, auth, "dnt")["total"] == 2


def test_two_shippers_on_one_orphan_count_it_once(make_app, pg_env):
    """A successor worker and `snip clicks flush` adopting the same dead log at once."""
    app = make_app(pg_env)
    with app.app_context():
        link = Link(slug="raced", url="https://example.com/", url_hash="x", redirect_status=302)
        db.session.add(link)
        db.session.commit()
        link_id = link.id
    directory = app.extensions["snip"].shipper.directory
    write_dead_segment(directory, link_id, 20_000)
    start = threading.Barrier(2)

    def ship() -> int:
        shipper = ClickShipper(clicklog.ClickLog(directory), lambda: engine(app), batch_bytes=4096)
        start.wait()
        return shipper.ship_once()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        shipped = list(pool.map(lambda _: ship(), range(2)))
    assert sum(shipped) == 20_000
    assert total_clicks(app) == 20_000


def engine(app):
    with app.app_context():
        return db.engine


def write_dead_segment(directory: Path, link_id: int, clicks: int, referrers: int = 1) -> str:
    """A segment as a killed worker leaves it: complete lines, then half a line.

    Many referrer hosts make many rows per batch, so a shipment takes a while."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-999999-{random.getrandbits(32):08x}.clicks"
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
    now = time.time()
    lines = b"".join(
        encode(now, link_id, False, "FR", f"h{i % referrers}.example", agent) for i in range(clicks)
    )
    (directory / name).write_bytes(lines + lines[:20])
    return name


# -------------------------------------------------- crashes under real gunicorn load


def click_log_dir_of(server: servers.SnipServer, database_url: str) -> Path:
    return clicklog.database_directory(server.click_log_dir, database_url)


def worker_pids(server: servers.SnipServer) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def referrer_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT value, SUM(clicks) FROM click_daily WHERE dimension = 'referrer' GROUP BY value"
        ).fetchall()
    return {host: int(n) for host, n in rows}


@pytest.mark.slow
def test_sigkilling_workers_under_load_loses_and_doubles_no_answered_click(pg_env):
    """Threads follow a link, each request with its own referrer host, while workers are
    SIGKILLed at random moments. Every answered redirect is counted exactly once; the
    only clicks counted without an answer are requests cut off by a kill after their
    click was written (the client saw the connection drop)."""
    server = servers.SnipServer(env=servers.snip_env(**pg_env), workers=2).start()
    key = servers.create_key(server.env, "t")
    requests.post(
        f"{server.url}/api/v1/links",
        json={"url": "https://example.com/", "slug": "load"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=5,
    ).raise_for_status()
    answered: set[str] = set()
    cut_off: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def visitor() -> None:
        session = requests.Session()
        while not stop.is_set():
            host = f"r{next(counter)}.example"
            try:
                code = session.get(
                    f"{server.url}/load",
                    headers={"Referer": f"https://{host}/", "Connection": "close"},
                    allow_redirects=False,
                    timeout=5,
                ).status_code
            except requests.RequestException:
                with lock:
                    cut_off.add(host)
                continue
            assert code == 302
            with lock:
                answered.add(host)

    rng = random.Random(11)
    kills = 0
    with servers.running(server):
        threads = [threading.Thread(target=visitor) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            for _ in range(8):
                time.sleep(rng.uniform(0.2, 0.8))
                pids = worker_pids(server)
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
                wait_until(lambda: len(worker_pids(server)) == 2, 20, "gunicorn to respawn")
                served = len(answered)
                wait_until(lambda n=served: len(answered) > n + 100, 30, "redirects to flow again")
        finally:
            stop.set()
            for t in threads:
                t.join()
    # The server stopped gracefully: the survivors drained; every log is shipped.
    assert kills == 8
    directory = click_log_dir_of(server, pg_env["DATABASE_URL"])
    assert clicklog.segments(directory) == []
    counted = referrer_counts(pg_env["DATABASE_URL"])
    assert len(answered) > 500, "too little load to prove anything"
    assert set(counted.values()) == {1}, "a click was counted twice"
    assert answered <= set(counted), f"lost: {sorted(answered - set(counted))[:5]}"
    assert set(counted) - answered <= cut_off


def shipping_as(conn, pid: int) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
            (f"snip-shipper:{pid}",),
        ).fetchone()
    )


@pytest.mark.slow
def test_sigkilling_a_worker_inside_its_shipping_transaction_loses_and_doubles_nothing(
    pg_env,
):
    """Dead workers' logs wait in the folder; the new workers adopt and ship them. Each
    time a shipper has a transaction open in PostgreSQL, its worker is SIGKILLed."""
    server = servers.SnipServer(env=servers.snip_env(**pg_env), workers=2)
    url = pg_env["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        link_ids = [
            conn.execute(
                "INSERT INTO links (slug, url, url_hash, redirect_status, use_count, created_at,"
                " updated_at) VALUES (%s, 'https://example.com/', 'x', 302, 0, now(), now())"
                " RETURNING id",
                (f"s{i}",),
            ).fetchone()[0]
            for i in range(16)
        ]
    directory = click_log_dir_of(server, url)
    expected = 0
    for i, link_id in enumerate(link_ids):
        write_dead_segment(directory, link_id, 3000 + i, referrers=3000)
        expected += 3000 + i

    kills = 0
    server.start()
    with servers.running(server), psycopg.connect(url, autocommit=True) as watch:
        deadline = time.monotonic() + 60
        while kills < 3 and time.monotonic() < deadline:
            row = watch.execute(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE "
                "'snip-shipper:%' AND xact_start IS NOT NULL LIMIT 1"
            ).fetchone()
            if row:
                with_pid = int(row[0].split(":")[1])
                if with_pid in worker_pids(server):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(with_pid, signal.SIGKILL)
                        kills += 1
                    # Its backend lingers a moment: wait until PostgreSQL lets it go.
                    wait_until(
                        lambda p=with_pid: not shipping_as(watch, p), 10, "the backend to end"
                    )
            time.sleep(0.002)
        assert kills == 3, "never caught a shipper inside its transaction"
        wait_until(lambda: clicklog.segments(directory) == [], 60, "every log to be shipped")
    with psycopg.connect(url) as conn:
        total = conn.execute(
            "SELECT SUM(clicks) FROM click_daily WHERE dimension = 'all'"
        ).fetchone()[0]
    assert total == expected


@pytest.mark.slow
def test_sigkilling_the_flusher_mid_flush_loses_and_doubles_nothing(make_app, pg_env, tmp_path):
    """`snip clicks flush` adopting dead logs, SIGKILLed at random moments, many times."""
    env = servers.snip_env(**pg_env, SNIP_CLICK_LOG_DIR=str(tmp_path / "clicks"))
    app = make_app({**pg_env, "SNIP_CLICK_LOG_DIR": str(tmp_path / "clicks")})
    with app.app_context():
        links = [
            Link(slug=f"f{i:03d}", url="https://example.com/", url_hash="x", redirect_status=302)
            for i in range(40)
        ]
        db.session.add_all(links)
        db.session.commit()
        ids = [link.id for link in links]
    directory = app.extensions["snip"].shipper.directory
    rng = random.Random(5)
    sent = 0
    mid_flush_kills = 0
    with psycopg.connect(pg_env["DATABASE_URL"], autocommit=True) as watch:
        for _round in range(5):
            for link_id in rng.sample(ids, 6):
                n = rng.randint(10_000, 20_000)
                write_dead_segment(directory, link_id, n)
                sent += n
            proc = subprocess.Popen(
                [str(servers.VENV_BIN / "snip"), "clicks", "flush"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Wait until it is shipping (it names itself in PostgreSQL), then strike.
            shipping = f"snip-shipper:{proc.pid}"
            while (
                proc.poll() is None
                and not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (shipping,)
                ).fetchone()
            ):
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.3))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                mid_flush_kills += 1
            proc.wait()
    result = servers.run_snip_cli("clicks", "flush", env=env)
    assert result.returncode == 0, result.stderr
    assert mid_flush_kills >= 2, "the flusher was not killed mid-flush often enough"
    assert clicklog.segments(directory) == []
    assert total_clicks(app) == sent


def test_a_graceful_stop_ships_the_whole_log(pg_env):
    server = servers.SnipServer(env=servers.snip_env(**pg_env), workers=2).start()
    key = servers.create_key(server.env, "t")
    requests.post(
        f"{server.url}/api/v1/links",
        json={"url": "https://example.com/", "slug": "bye"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=5,
    ).raise_for_status()
    for _ in range(30):
        requests.get(f"{server.url}/bye", allow_redirects=False, timeout=5)
    server.stop()  # SIGTERM right away: before the shippers' next tick
    directory = click_log_dir_of(server, pg_env["DATABASE_URL"])
    assert clicklog.segments(directory) == []
    with psycopg.connect(pg_env["DATABASE_URL"]) as conn:
        total = conn.execute("SELECT SUM(clicks) FROM click_daily WHERE dimension='all'")
        assert total.fetchone()[0] == 30


# ----------------------------------------------- an older release's Redis counters


def test_counters_an_older_release_left_in_redis_are_drained_once(make_app, pg_env):
    app = make_app(pg_env)
    with app.app_context():
        link = Link(slug="old", url="https://example.com/", url_hash="x", redirect_status=302)
        db.session.add(link)
        db.session.commit()
        link_id = link.id
    r = redis.Redis.from_url(pg_env["REDIS_URL"])
    field = legacy_clicks.click_field(link_id, datetime.now(UTC).date(), False, "x.example")
    r.hincrby(legacy_clicks.PENDING, field, 5)
    r.hincrby(legacy_clicks.PENDING, legacy_clicks.TOTAL_FIELD, 5)
    with app.app_context():
        f = ClickFlusher(r, lambda: db.session)
        batch = f.seal()
        assert f.apply(batch, f.read_batch(batch)) == 5  # committed ... then "killed"
        assert f.flush_once() == 0  # the rerun only forgets the batch
    assert total_clicks(app) == 5
    assert r.exists(legacy_clicks.PENDING, legacy_clicks.BATCHES) == 0
