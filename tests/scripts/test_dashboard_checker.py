"""dashboard-checker.py against a Grafana API stand-in and a real Prometheus.

No Grafana server runs here, so FakeGrafana implements the documented endpoints the
checker uses (health, search, get by uid, save, folders) with Grafana's behaviour that
matters: ids and versions assigned on save, 401 without the token, 400 when saving
into a folder that does not exist. Prometheus is the real one (Debian package),
scraping itself, so query errors and empty results are Prometheus's own verdicts.

Proves: invalid files are refused before Grafana is touched; missing, outdated and
unknown dashboards are reported (exit 1) without changing anything; --apply creates
the folder and the dashboards, after which a check is clean (exit 0); --dry-run changes
nothing; unknown dashboards are never deleted; an unreachable or refusing Grafana exits
3; every query of the repository's dashboards is accepted by a real Prometheus.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.scripts.helpers import explain
from tests.support import servers
from tests.support.servers import REPO_ROOT, VENV_BIN
from tests.support.tools import tool

CHECKER = REPO_ROOT / "scripts" / "monitoring" / "dashboard-checker.py"
TOKEN = "test-token"


# --------------------------------------------------------------------- fake Grafana


class FakeGrafana:
    """In-memory Grafana: dashboards by uid, folders by uid, and a request log."""

    def __init__(self) -> None:
        self.dashboards: dict[str, dict] = {}  # uid -> {"dashboard": ..., "folderUid": ...}
        self.folders: dict[str, str] = {}  # uid -> title
        self.writes: list[str] = []
        self.next_id = 1
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self):
        grafana = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def reply(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.reply(401, {"message": "Unauthorized"})
                    return False
                return True

            def do_GET(self):
                if not self.authorised():
                    return
                path = urlparse(self.path)
                if path.path == "/api/health":
                    return self.reply(200, {"database": "ok", "version": "11.3.0"})
                if path.path == "/api/search":
                    return self.reply(200, grafana.search())
                if path.path == "/api/folders":
                    folders = [{"uid": u, "title": t} for u, t in grafana.folders.items()]
                    return self.reply(200, folders)
                if path.path.startswith("/api/dashboards/uid/"):
                    uid = path.path.rsplit("/", 1)[1]
                    if uid not in grafana.dashboards:
                        return self.reply(404, {"message": "Dashboard not found"})
                    entry = grafana.dashboards[uid]
                    return self.reply(
                        200,
                        {
                            "dashboard": entry["dashboard"],
                            "meta": {"folderUid": entry["folderUid"]},
                        },
                    )
                return self.reply(404, {"message": "Not found"})

            def do_POST(self):
                if not self.authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                grafana.writes.append(self.path)
                if self.path == "/api/folders":
                    if body["uid"] in grafana.folders:
                        return self.reply(409, {"message": "folder exists"})
                    grafana.folders[body["uid"]] = body["title"]
                    return self.reply(200, {"uid": body["uid"], "title": body["title"]})
                if self.path == "/api/dashboards/db":
                    folder = body.get("folderUid", "")
                    if folder and folder not in grafana.folders:
                        return self.reply(400, {"message": "folder not found"})
                    return self.reply(200, grafana.save(body["dashboard"], folder))
                return self.reply(404, {"message": "Not found"})

        return Handler

    def search(self) -> list[dict]:
        return [
            {
                "uid": uid,
                "title": e["dashboard"]["title"],
                "type": "dash-db",
                "folderUid": e["folderUid"],
                "folderTitle": self.folders.get(e["folderUid"], "General"),
            }
            for uid, e in self.dashboards.items()
        ]

    def save(self, dashboard: dict, folder_uid: str) -> dict:
        dashboard = copy.deepcopy(dashboard)
        uid = dashboard["uid"]
        previous = self.dashboards.get(uid)
        dashboard["id"] = previous["dashboard"]["id"] if previous else self.next_id
        self.next_id += previous is None
        dashboard["version"] = (previous["dashboard"]["version"] + 1) if previous else 1
        self.dashboards[uid] = {"dashboard": dashboard, "folderUid": folder_uid}
        return {
            "status": "success",
            "uid": uid,
            "id": dashboard["id"],
            "version": dashboard["version"],
        }

    def __enter__(self) -> FakeGrafana:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as fake:
        yield fake


# ---------------------------------------------------------------- real Prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[str]:
    """A real Prometheus scraping itself every second; yields once it has data."""
    directory = tmp_path_factory.mktemp("prometheus")
    port = servers.free_port()
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # poll for the first scrape
            try:
                answer = requests.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=1)
                if answer.ok and answer.json()["data"]["result"]:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("Prometheus did not scrape itself within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ----------------------------------------------------------------------- helpers


def dashboard(uid: str, title: str, *exprs: str) -> dict:
    """A small but complete dashboard, shaped like the repository's."""
    return {
        "uid": uid,
        "title": title,
        "schemaVersion": 39,
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": f"panel {i + 1}",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [{"refId": "A", "expr": expr}],
            }
            for i, expr in enumerate(exprs or ("up",))
        ],
    }


def write_dashboards(directory: Path, *dashboards: dict) -> Path:
    directory.mkdir(exist_ok=True)
    for d in dashboards:
        (directory / f"{d['uid']}.json").write_text(json.dumps(d, indent=2))
    return directory


def check(*args: str | Path, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "python"), str(CHECKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "GRAFANA_TOKEN": token},
    )


# ------------------------------------------------------------------------- tests


def test_repository_dashboards_are_valid():
    result = check("--json")
    assert result.returncode == 0, explain(result)
    assert json.loads(result.stdout)["invalid"] == []


def test_every_repository_panel_query_is_accepted_by_prometheus(prometheus):
    result = check("--prometheus-url", prometheus, "--json")
    assert result.returncode == 0, explain(result)
    queries = json.loads(result.stdout)["queries"]
    assert queries["total"] > 0
    assert queries["failed"] == []  # empty results are fine: nothing of snip runs here


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("{not json", "not valid JSON"),
        ({**dashboard("x", "X"), "uid": "has spaces"}, "uid"),
        ({**dashboard("x", "X"), "id": 7}, "numeric 'id'"),
        ({**dashboard("x", "X"), "panels": []}, "no panels"),
        (dashboard("a", "Duplicate uid"), "also used by"),
    ],
)
def test_invalid_files_are_refused_before_grafana_is_touched(tmp_path, grafana, broken, message):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"))
    (directory / "broken.json").write_text(
        broken if isinstance(broken, str) else json.dumps(broken)
    )
    result = check("--dashboards", directory, "--grafana-url", grafana.url, "--apply")
    assert result.returncode == 2, explain(result)
    assert message in result.stdout
    assert grafana.writes == []


def test_check_reports_missing_and_changes_nothing(tmp_path, grafana):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"), dashboard("b", "B"))
    result = check("--dashboards", directory, "--grafana-url", grafana.url, "--json")
    assert result.returncode == 1, explain(result)
    assert json.loads(result.stdout)["grafana"]["missing"] == ["a", "b"]
    assert grafana.writes == []


def test_apply_creates_folder_and_dashboards_then_check_is_clean(tmp_path, grafana):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"), dashboard("b", "B"))
    applied = check("--dashboards", directory, "--grafana-url", grafana.url, "--apply")
    assert applied.returncode == 0, explain(applied)
    assert grafana.folders == {"snip": "snip"}
    assert {uid: e["folderUid"] for uid, e in grafana.dashboards.items()} == {
        "a": "snip",
        "b": "snip",
    }

    again = check("--dashboards", directory, "--grafana-url", grafana.url, "--json")
    assert again.returncode == 0, explain(again)
    assert json.loads(again.stdout)["grafana"]["in_sync"] == ["a", "b"]


def test_outdated_and_unknown_are_reported_and_only_outdated_is_updated(tmp_path, grafana):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"), dashboard("b", "B"))
    assert check("--dashboards", directory, "--grafana-url", grafana.url, "--apply").returncode == 0
    grafana.save(dashboard("handmade", "Made in the UI"), "snip")  # unknown to git
    grafana.save(dashboard("elsewhere", "Another team's"), "")  # not in our folder: ignored
    write_dashboards(directory, dashboard("b", "B", "up", "count(up)"))  # b changed in git

    result = check("--dashboards", directory, "--grafana-url", grafana.url, "--json")
    assert result.returncode == 1, explain(result)
    report = json.loads(result.stdout)["grafana"]
    assert (report["in_sync"], report["outdated"], report["unknown"]) == (
        ["a"],
        ["b"],
        ["handmade"],
    )

    dry = check("--dashboards", directory, "--grafana-url", grafana.url, "--apply", "--dry-run")
    assert dry.returncode == 0, explain(dry)
    assert "would update: b" in dry.stdout
    assert len(grafana.dashboards["b"]["dashboard"]["panels"]) == 1, "dry run changed Grafana"

    applied = check("--dashboards", directory, "--grafana-url", grafana.url, "--apply")
    assert applied.returncode == 0, explain(applied)
    assert len(grafana.dashboards["b"]["dashboard"]["panels"]) == 2
    assert grafana.dashboards["b"]["dashboard"]["version"] == 2
    assert "handmade" in grafana.dashboards, "unknown dashboards are reported, never deleted"


def test_dashboard_in_the_wrong_folder_is_outdated_and_moved(tmp_path, grafana):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"))
    grafana.save(dashboard("a", "A"), "")  # same content, General folder
    result = check("--dashboards", directory, "--grafana-url", grafana.url, "--json")
    assert json.loads(result.stdout)["grafana"]["outdated"] == ["a"]
    assert check("--dashboards", directory, "--grafana-url", grafana.url, "--apply").returncode == 0
    assert grafana.dashboards["a"]["folderUid"] == "snip"


def test_unreachable_or_refusing_grafana_exits_3(tmp_path, grafana):
    directory = write_dashboards(tmp_path / "d", dashboard("a", "A"))
    nobody = f"http://127.0.0.1:{servers.free_port()}"
    result = check("--dashboards", directory, "--grafana-url", nobody)
    assert result.returncode == 3, explain(result)
    result = check("--dashboards", directory, "--grafana-url", grafana.url, token="wrong")
    assert result.returncode == 3, explain(result)
    assert "401" in result.stderr


def test_failing_and_empty_queries_are_reported(tmp_path, prometheus):
    directory = write_dashboards(
        tmp_path / "d",
        dashboard(
            "q",
            "Queries",
            "sum(rate(prometheus_http_requests_total[$__rate_interval]))",
            'up{job="no-such-job"}',
            "sum(rate(up[5m])",
        ),
    )
    result = check("--dashboards", directory, "--prometheus-url", prometheus, "--json")
    assert result.returncode == 1, explain(result)
    queries = json.loads(result.stdout)["queries"]
    assert queries["total"] == 3
    assert len(queries["failed"]) == 1 and "panel 3" in queries["failed"][0]
    assert len(queries["empty"]) == 1 and "no-such-job" in queries["empty"][0]

    # Without the broken panel, an empty result only fails with --require-data.
    data = json.loads((directory / "q.json").read_text())
    data["panels"].pop()
    (directory / "q.json").write_text(json.dumps(data))
    assert check("--dashboards", directory, "--prometheus-url", prometheus).returncode == 0
    strict = check("--dashboards", directory, "--prometheus-url", prometheus, "--require-data")
    assert strict.returncode == 1, explain(strict)


def test_help_and_usage():
    assert check("--help").returncode == 0
    assert check("--apply").returncode == 64  # --apply without a Grafana URL


def test_repository_dashboards_round_trip_through_grafana(grafana):
    """The real dashboards: applied once, then reported in sync (nothing Grafana adds on
    save, such as ids and versions, makes them look outdated)."""
    applied = check("--grafana-url", grafana.url, "--apply")
    assert applied.returncode == 0, explain(applied)
    result = check("--grafana-url", grafana.url, "--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)["grafana"]
    assert report["missing"] == report["outdated"] == report["unknown"] == []
    assert len(report["in_sync"]) == len(
        list((REPO_ROOT / "k8s/monitoring/grafana/dashboards").glob("*.json"))
    )
