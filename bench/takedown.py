"""How late a takedown reaches every worker, measured (docs/security.md, "Takedowns").

Runs snip under gunicorn (3 workers, PostgreSQL + a private Redis with an append-only
file, production cache settings), creates a link, warms every cache, deletes the link
through the API and polls the short URL from 8 threads: the time from the DELETE's
answer to the last redirect to the old target is the staleness of that trial.

Two cases, each --trials times:
- redis-up: the usual case;
- redis-outage: Redis is stopped before the DELETE and started again (same port, same
  data: the deleted link is still cached in it) 2.5 s later.

    .venv/bin/python bench/takedown.py [--trials 5]

Needs PostgreSQL (the tests' lookup rules) and redis-server. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import servers  # noqa: E402

OLD = "https://old.example/"
POLLERS = 8


def trial(server: servers.SnipServer, cache: servers.RedisServer, auth: dict, n: int, outage: bool):
    slug = f"t{n}{'o' if outage else 'u'}"
    requests.post(
        f"{server.url}/api/v1/links", json={"url": OLD, "slug": slug}, headers=auth, timeout=5
    ).raise_for_status()
    for _ in range(60):
        requests.get(f"{server.url}/{slug}", allow_redirects=False, timeout=5)
    if outage:
        cache.stop()
    requests.delete(f"{server.url}/api/v1/links/{slug}", headers=auth, timeout=5).raise_for_status()
    done = time.monotonic()
    last_old = [0.0]
    polls = [0]
    stop = threading.Event()

    def poll() -> None:
        session = requests.Session()
        while not stop.is_set():
            answer = session.get(f"{server.url}/{slug}", allow_redirects=False, timeout=5)
            polls[0] += 1
            if answer.headers.get("Location") == OLD:
                last_old[0] = max(last_old[0], time.monotonic() - done)

    threads = [threading.Thread(target=poll) for _ in range(POLLERS)]
    for thread in threads:
        thread.start()
    if outage:
        time.sleep(2.5)
        cache.start()
    time.sleep(4.0)  # poll well past the bound (and past Redis coming back)
    stop.set()
    for thread in threads:
        thread.join()
    return round(last_old[0], 3), polls[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    admin = servers.SHARED_POSTGRES_ADMIN_URL
    database = servers.create_database(admin, prefix="snip_takedown")
    try:
        with tempfile.TemporaryDirectory() as folder:
            cache = servers.RedisServer(Path(folder) / "redis", persistent=True).start()
            with servers.running(cache):
                env = servers.snip_env(DATABASE_URL=database, REDIS_URL=cache.url)
                servers.run_snip_cli("db", "upgrade", env=env)
                auth = {"Authorization": f"Bearer {servers.create_key(env, 'bench')}"}
                server = servers.SnipServer(env=env, workers=3).start()
                results: dict[str, list] = {"redis-up": [], "redis-outage": []}
                with servers.running(server):
                    for n in range(args.trials):
                        results["redis-up"].append(trial(server, cache, auth, n, False))
                        results["redis-outage"].append(trial(server, cache, auth, n, True))
        summary = {
            case: {
                "last_old_redirect_seconds": [r[0] for r in rows],
                "max_seconds": max(r[0] for r in rows),
                "polls_per_trial": [r[1] for r in rows],
            }
            for case, rows in results.items()
        }
        print(json.dumps(summary))
    finally:
        servers.drop_database(admin, database)


if __name__ == "__main__":
    main()
