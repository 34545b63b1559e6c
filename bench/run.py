"""Redirect benchmark: snip (PostgreSQL + Redis, clicks on) against a bare Flask app.

One run, side by side, on this machine:
1. bare Flask under gunicorn (snip/gunicorn_conf.py, 2 sync workers): the baseline;
2. snip under the same gunicorn, cache hit, click tracking on (the default: the
   crash-safe click log), plus PostgreSQL's transaction count per hit;
3. snip under granian (2 workers), same link;
4. cache misses over 1,000,000 links, at 32 connections and at 2;
5. the shipper's throughput: clicks per second from the click log into PostgreSQL;
6. what each click's analytics cost, and where a redirect's time goes (in-process).
wrk drives the servers over loopback. Needs PostgreSQL (the tests' lookup rules),
redis-server and wrk.

    .venv/bin/python bench/run.py [--duration 10] [--connections 32] [--links 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import servers  # noqa: E402

RESULTS = REPO / "bench" / "results"
MISS_SCRIPT = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/m%07d", math.random(1, {links})))
end
"""
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.6778.39 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (compatible; bingbot/2.{v}; +http://www.bing.com/bingbot.htm)",
]


def wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency(out, "50%"),
        "p99_ms": latency(out, "99%"),
        "errors": "Non-2xx" in out or "Socket errors" in out,
        "raw": out,
    }


def latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


TRANSACTIONS = (
    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
)


def transactions(url: str) -> int:
    """Transactions the database has seen so far, by PostgreSQL's own count.

    Reading the count is itself a transaction; the caller subtracts that overhead.
    """
    time.sleep(1.2)  # backends report to pg_stat_database at most once a second
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(conn.execute(TRANSACTIONS).fetchone()[0])


def fill_links(url: str, count: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO links (slug, url, url_hash, redirect_status, use_count, created_at,"
            " updated_at) SELECT 'm' || lpad(i::text, 7, '0'), 'https://example.com/page/' || i,"
            " md5(i::text), 302, 0, now(), now() FROM generate_series(1, %s) AS i",
            (count,),
        )
        conn.execute("ANALYZE links")
    return time.perf_counter() - started


@dataclass
class GranianServer:
    """snip (or any WSGI app) under granian, started like SnipServer."""

    env: dict[str, str]
    workers: int = 2
    target: str = "snip:create_app"
    factory: bool = True
    port: int = field(default_factory=servers.free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GranianServer:
        metrics_dir = tempfile.mkdtemp(prefix="snip-granian-metrics-")
        argv = [str(servers.VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--workers", str(self.workers), "--access-log"]
        argv += ["--factory", self.target] if self.factory else [self.target]
        self.process = subprocess.Popen(
            argv,
            env={**self.env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "SNIP_BASE_URL": self.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                probe = requests.get(f"{self.url}/healthz", timeout=1, allow_redirects=False)
                if probe.status_code < 500:
                    return self
            time.sleep(0.1)
        self.stop()  # never leave a server behind
        raise TimeoutError("granian did not answer")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--links", type=int, default=1_000_000, help="links for the miss path")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument(
        "--ship-clicks", type=int, default=500_000, help="clicks for the shipper run"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2

    admin = servers.SHARED_POSTGRES_ADMIN_URL
    if not servers.postgres_answers(admin):
        print(f"bench: no PostgreSQL at {admin}; set SNIP_TEST_POSTGRES_ADMIN_URL", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="snip-bench-"))
    redis_server = servers.RedisServer(workdir / "redis").start()
    db_url = servers.create_database(admin, prefix="snip_bench")
    try:
        report = measure(args, db_url, redis_server.url, workdir)
    finally:
        redis_server.stop()
        servers.drop_database(admin, db_url)
        shutil.rmtree(workdir, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"\nfull wrk output: {out}")
    return 0


def warm(url: str) -> None:
    for _ in range(40):  # every worker's cache, both doors
        requests.get(f"{url}/bench", allow_redirects=False, timeout=5)


def measure(args: argparse.Namespace, db_url: str, redis_url: str, workdir: Path) -> dict:
    report: dict = {"connections": args.connections, "duration_s": args.duration}
    report["workers"] = args.workers
    env = servers.snip_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        SNIP_RATE_LIMIT_WRITES="100000 per minute",
        SNIP_CLICK_LOG_DIR=str(workdir / "clicks"),
    )
    servers.run_snip_cli("db", "upgrade", env=env)
    key = servers.create_key(env, "bench")

    # 1. The baseline: a bare Flask redirect under the same gunicorn settings.
    bare_env = {**env, "PYTHONPATH": str(REPO)}
    bare_server = servers.SnipServer(
        env=bare_env, workers=args.workers, app_spec="bench.bare_app:app"
    )
    with serving(bare_server) as bare:
        report["bare_flask"] = wrk(f"{bare.url}/bench", args.duration, args.connections)

    # 2. snip, cache hits: one link, every worker's cache warm, click tracking on.
    with serving(servers.SnipServer(env=env, workers=args.workers)) as snip:
        requests.post(
            f"{snip.url}/api/v1/links",
            json={"url": "https://example.com/landing-page", "slug": "bench"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        ).raise_for_status()
        warm(snip.url)
        first = transactions(db_url)
        overhead = transactions(db_url) - first  # what reading the count costs
        before = transactions(db_url)
        hit = wrk(f"{snip.url}/bench", args.duration, args.connections)
        during = transactions(db_url) - before - overhead
        # The shippers write about once a second per worker: that is not per hit.
        shipments = 2 * args.workers * (args.duration + 3)
        report["db_transactions_during_hits"] = during
        report["db_transactions_per_cache_hit"] = round(
            max(during - shipments, 0) / (hit["requests_per_second"] * args.duration), 5
        )
        report["snip_hit"] = hit
    report["clicks_recorded"] = count_clicks(db_url)

    # 3. snip under granian, same link and settings.
    with serving(GranianServer(env=env, workers=args.workers)) as snip:
        warm(snip.url)
        report["snip_granian_hit"] = wrk(f"{snip.url}/bench", args.duration, args.connections)
    with serving(GranianServer(env=bare_env, target="bench.bare_app:app", factory=False)) as b:
        report["bare_granian"] = wrk(f"{b.url}/bench", args.duration, args.connections)

    bare_rate = report["bare_flask"]["requests_per_second"]
    report["ratio"] = round(hit["requests_per_second"] / bare_rate, 3)
    report["ratio_granian"] = round(
        report["snip_granian_hit"]["requests_per_second"] / bare_rate, 3
    )

    # 4. Cache misses: random slugs among many links, each looked up in PostgreSQL.
    report["fill_seconds"] = round(fill_links(db_url, args.links), 1)
    report["links"] = args.links
    script = workdir / "miss.lua"
    script.write_text(MISS_SCRIPT.replace("{links}", str(args.links)))
    with serving(servers.SnipServer(env=env, workers=args.workers)) as snip:
        report["snip_miss"] = wrk(snip.url, args.duration, args.connections, script)
        report["snip_miss_2_connections"] = wrk(snip.url, args.duration, 2, script)

    # 5 and 6, in this process.
    report["shipper"] = shipper_throughput(env, workdir, args.ship_clicks)
    report["per_click_us"] = analytics_cost(env)
    report["in_process_us"] = in_process_profile(env, bare_env)
    return report


def count_clicks(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT SUM(clicks) FROM click_daily WHERE dimension = 'all'")
        return int(row.fetchone()[0] or 0)


def bench_app(env: dict[str, str]):
    from snip import create_app
    from snip.config import load_settings

    return create_app(load_settings({k: v for k, v in env.items() if k.isupper()}))


def shipper_throughput(env: dict[str, str], workdir: Path, clicks: int) -> dict:
    """Dead workers' logs (realistic mix: 10,000 links, 60 agents, 40 countries, 100
    referrers) shipped by one ClickShipper, as a successor or `snip clicks flush` does."""
    from snip.analytics import classify
    from snip.clicklog import ClickLog
    from snip.clicks import ClickShipper, encode
    from snip.extensions import db

    app = bench_app(env)
    shipper = app.extensions["snip"].shipper
    rng = random.Random(1)
    agents = [a.format(v=v) for a in AGENTS for v in range(120, 130)]
    countries = ["US", "DE", "FR", "GB", "IN", "BR", "JP", "CA", "NL", "ES"] * 4
    now = time.time()
    per_file = 50_000
    for start in range(0, clicks, per_file):
        lines = [
            encode(
                now - rng.random() * 7200,
                min(int(rng.paretovariate(1.2)), 10_000),  # a few links get most clicks
                rng.random() < 0.03,
                rng.choice(countries),
                f"site{rng.randint(1, 100)}.example" if rng.random() < 0.6 else "",
                rng.choice(agents),
            )
            for _ in range(min(per_file, clicks - start))
        ]
        name = f"{time.time_ns():020d}-1-{start:08x}.clicks"
        shipper.directory.mkdir(parents=True, exist_ok=True)
        (shipper.directory / name).write_bytes(b"".join(lines))
    fresh = ClickShipper(ClickLog(shipper.directory), lambda: engine_of(app, db))
    classify("Mozilla/5.0 (warm-up)")  # a worker loads the uap-core rules once, at its start
    started = time.perf_counter()
    shipped = fresh.ship_once()
    seconds = time.perf_counter() - started
    return {"clicks": shipped, "seconds": round(seconds, 2), "per_second": round(shipped / seconds)}


def engine_of(app, db):
    with app.app_context():
        return db.engine


def per_call_us(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return round((time.perf_counter() - started) / n * 1e6, 2)


def analytics_cost(env: dict[str, str]) -> dict:
    """Microseconds per click for each piece of the analytics."""
    from snip import analytics
    from snip.clicks import encode

    app = bench_app(env)
    recorder = app.extensions["snip"].clicks
    recorder.on_first_click = None
    recorder.countries.warm()
    rng = random.Random(2)
    addresses = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(5000)
    ]
    it = iter(addresses * 40)
    agent = AGENTS[0].format(v=131)
    counter = iter(range(10**9))
    result = {
        "country_lookup": per_call_us(lambda: recorder.countries.country(next(it)), 100_000),
        "encode_line": per_call_us(lambda: encode(1.0, 1, False, "US", "a.example", agent), 50_000),
        "record_total_on_request_thread": per_call_us(
            lambda: recorder.record(1, agent, "8.8.8.8", "a.example", False), 50_000
        ),
        "ua_parse_uncached": per_call_us(
            lambda: analytics.classify(f"{agent} x{next(counter)}"), 3000
        ),
        "ua_parse_cached": per_call_us(lambda: analytics.classify(agent), 100_000),
    }
    recorder.log.close()
    return result


def in_process_profile(env: dict[str, str], bare_env: dict[str, str]) -> dict:
    """A cache hit through the WSGI callable, no server, no network: where time goes."""
    from werkzeug.test import EnvironBuilder

    sys.path.insert(0, str(REPO))
    from bench.bare_app import app as bare

    from snip.cache import CachedLink

    app = bench_app(env)
    app.extensions["snip"].clicks.on_first_click = None
    link = CachedLink(id=1, url="https://example.com/landing-page", status=302, expires_at=None,
                      max_clicks=None, deleted=False)  # fmt: skip
    cache = app.extensions["snip"].cache
    cache._remember("bench", link, time.monotonic() + 3600)
    cache.local_ttl = 3600.0
    environ = EnvironBuilder(path="/bench", headers={"User-Agent": AGENTS[0]}).get_environ()

    def call(wsgi) -> Callable[[], object]:
        def once() -> object:
            return list(wsgi(dict(environ), lambda status, headers, exc=None: None))

        return once

    flask_only = app.wsgi_app.inner  # the Flask app behind the fast path
    result = {
        "bare_flask": per_call_us(call(bare.wsgi_app), 20_000),
        "snip_fast_path": per_call_us(call(app.wsgi_app), 20_000),
        "snip_through_flask": per_call_us(call(flask_only), 20_000),
    }
    app.extensions["snip"].clicks.log.close()
    return result


@contextlib.contextmanager
def serving(server) -> Iterator:
    server.start()
    with servers.running(server):
        yield server


def print_report(r: dict) -> None:
    def line(name: str, m: dict) -> str:
        rate = f"{m['requests_per_second']:>9,.0f} req/s"
        return f"  {name:<40} {rate}   p50 {m['p50_ms']:6.2f} ms   p99 {m['p99_ms']:6.2f} ms"

    print(
        f"\nsnip redirect benchmark ({r['workers']} workers, "
        f"wrk {r['connections']} connections, {r['duration_s']} s each)\n"
    )
    print(line("bare Flask, gunicorn", r["bare_flask"]))
    print(line("snip, cache hit, clicks on, gunicorn", r["snip_hit"]))
    print(line("snip, cache hit, clicks on, granian", r["snip_granian_hit"]))
    print(line("bare Flask, granian", r["bare_granian"]))
    print(
        f"ratio snip / bare (gunicorn, cache hit, tracking on): {r['ratio']:.3f}  (target >= 1.0)"
    )
    print(f"  ratio snip on granian / bare Flask on gunicorn: {r['ratio_granian']:.3f}")
    p99_ok = r["snip_hit"]["p99_ms"] <= r["bare_flask"]["p99_ms"]
    print(
        f"  p99 snip {r['snip_hit']['p99_ms']:.2f} ms vs bare {r['bare_flask']['p99_ms']:.2f} ms"
        f"  ({'met' if p99_ok else 'NOT met'}: no worse than bare)"
    )
    print(
        f"  DB transactions per cache hit: {r['db_transactions_per_cache_hit']}"
        f"  ({r['db_transactions_during_hits']} during the run, shipments included; target 0)"
    )
    print(f"  clicks recorded in the database after the hit run: {r['clicks_recorded']:,}")
    print(f"\n  {r['links']:,} links inserted in {r['fill_seconds']} s")
    print(line(f"snip, cache miss, {r['connections']} conns", r["snip_miss"]))
    print(line("snip, cache miss, 2 conns", r["snip_miss_2_connections"]))
    s = r["shipper"]
    print(
        f"\n  shipper: {s['clicks']:,} clicks log -> PostgreSQL in {s['seconds']} s = "
        f"{s['per_second']:,} clicks/s  (target >= 50,000)"
    )
    print(
        "  per click, microseconds: " + ", ".join(f"{k} {v}" for k, v in r["per_click_us"].items())
    )
    print(
        "  in-process cache hit, microseconds: "
        + ", ".join(f"{k} {v}" for k, v in r["in_process_us"].items())
    )


if __name__ == "__main__":
    sys.exit(main())
