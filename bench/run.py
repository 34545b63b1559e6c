"""Redirect benchmark: snip (PostgreSQL + Redis, clicks on) against a bare Flask app.

Both run under the same gunicorn settings (snip/gunicorn_conf.py, 2 sync workers);
wrk drives them over loopback. Prints requests/s, p50 and p99, the ratio, the
database transactions a cache hit costs, then the cache-miss path over 1,000,000
links. Needs PostgreSQL (the tests' lookup rules), redis-server and wrk.

    .venv/bin/python bench/run.py [--duration 10] [--connections 32] [--links 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


def wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency(out, "50%"),
        "p99_ms": latency(out, "99%"),
        "errors": "Non-2xx" not in out and "Socket errors" not in out,
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--links", type=int, default=1_000_000, help="links for the miss path")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
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


def measure(args: argparse.Namespace, db_url: str, redis_url: str, workdir: Path) -> dict:
    report: dict = {"connections": args.connections, "duration_s": args.duration}
    report["workers"] = args.workers
    env = servers.snip_env(
        DATABASE_URL=db_url, REDIS_URL=redis_url, SNIP_RATE_LIMIT_WRITES="100000 per minute"
    )
    servers.run_snip_cli("db", "upgrade", env=env)
    key = servers.create_key(env, "bench")

    # 1. Cache hits: one link, every worker's cache warm, click tracking on.
    with serving(servers.SnipServer(env=env, workers=args.workers)) as snip:
        created = requests.post(
            f"{snip.url}/api/v1/links",
            json={"url": "https://example.com/landing-page", "slug": "bench"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        created.raise_for_status()
        for _ in range(20):
            requests.get(f"{snip.url}/bench", allow_redirects=False, timeout=5)
        first = transactions(db_url)
        overhead = transactions(db_url) - first  # what reading the count costs
        before = transactions(db_url)
        hit = wrk(f"{snip.url}/bench", args.duration, args.connections)
        during = transactions(db_url) - before - overhead
        report["db_transactions_per_cache_hit"] = round(
            max(during, 0) / (hit["requests_per_second"] * args.duration), 4
        )
        report["snip_hit"] = hit

    # 1b. The same with the optional click buffer (SNIP_CLICK_BUFFER_SECONDS=0.2).
    buffered_env = {**env, "SNIP_CLICK_BUFFER_SECONDS": "0.2"}
    with serving(servers.SnipServer(env=buffered_env, workers=args.workers)) as snip:
        for _ in range(20):
            requests.get(f"{snip.url}/bench", allow_redirects=False, timeout=5)
        report["snip_hit_buffered"] = wrk(f"{snip.url}/bench", args.duration, args.connections)

    # 2. The baseline: a bare Flask redirect under the same gunicorn settings.
    bare_env = {**env, "PYTHONPATH": str(REPO)}
    bare_server = servers.SnipServer(
        env=bare_env, workers=args.workers, app_spec="bench.bare_app:app"
    )
    with serving(bare_server) as bare:
        report["bare_flask"] = wrk(f"{bare.url}/bench", args.duration, args.connections)
    bare_rate = report["bare_flask"]["requests_per_second"]
    report["ratio"] = round(hit["requests_per_second"] / bare_rate, 3)
    buffered_rate = report["snip_hit_buffered"]["requests_per_second"]
    report["ratio_buffered"] = round(buffered_rate / bare_rate, 3)

    # 3. Cache misses: random slugs among many links, each looked up in PostgreSQL.
    report["fill_seconds"] = round(fill_links(db_url, args.links), 1)
    report["links"] = args.links
    script = workdir / "miss.lua"
    script.write_text(MISS_SCRIPT.replace("{links}", str(args.links)))
    with serving(servers.SnipServer(env=env, workers=args.workers)) as snip:
        report["snip_miss"] = wrk(snip.url, args.duration, args.connections, script)
        report["snip_miss_2_connections"] = wrk(snip.url, args.duration, 2, script)
    return report


@contextlib.contextmanager
def serving(server: servers.SnipServer) -> Iterator[servers.SnipServer]:
    server.start()
    with servers.running(server):
        yield server


def print_report(r: dict) -> None:
    def line(name: str, m: dict) -> str:
        rate = f"{m['requests_per_second']:>9,.0f} req/s"
        return f"  {name:<38} {rate}   p50 {m['p50_ms']:6.2f} ms   p99 {m['p99_ms']:6.2f} ms"

    print(
        f"\nsnip redirect benchmark ({r['workers']} gunicorn sync workers, "
        f"wrk {r['connections']} connections, {r['duration_s']} s each)\n"
    )
    print(line("bare Flask redirect", r["bare_flask"]))
    print(line("snip, cache hit, clicks on", r["snip_hit"]))
    print(line("snip, cache hit, clicks buffered 0.2s", r["snip_hit_buffered"]))
    print(f"  {'ratio snip / bare':<38} {r['ratio']:>9.3f}   (target >= 0.8)")
    print(f"  {'ratio snip buffered / bare':<38} {r['ratio_buffered']:>9.3f}")
    per_hit = r["db_transactions_per_cache_hit"]
    print(f"  {'DB transactions per cache hit':<38} {per_hit:>9}   (target 0)")
    print(f"\n  {r['links']:,} links inserted in {r['fill_seconds']} s")
    print(line(f"snip, cache miss, {r['connections']} conns", r["snip_miss"]))
    print(line("snip, cache miss, 2 conns", r["snip_miss_2_connections"]))
    print("  targets: p99 <= 15 ms at 32 connections (hit), cache-miss p99 <= 10 ms")


if __name__ == "__main__":
    sys.exit(main())
