"""dashboard-checker.py: every panel query parses (promtool) or runs (a real Prometheus).

Grafana provisioning loads the dashboard files; this checker proves their queries.
Both of its judges are real: promtool's parser offline (Debian package prometheus),
and a real Prometheus scraping itself, so errors and empty results are Prometheus's
own verdicts. Proves: the repository's dashboards parse and run; a syntax error is
reported with its dashboard, panel and the parser's message, offline and online; an
empty result fails only with --require-data; an unreadable file exits 2, an
unreachable Prometheus 3, a machine without promtool 69 with the install command;
`make dashboards` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.scripts.helpers import explain
from tests.support import servers
from tests.support.servers import REPO_ROOT, VENV_BIN
from tests.support.tools import tool

CHECKER = REPO_ROOT / "scripts" / "monitoring" / "dashboard-checker.py"
DASHBOARDS = REPO_ROOT / "k8s" / "monitoring" / "grafana" / "dashboards"
BROKEN = "sum(rate(prometheus_http_requests_total[5m])"  # unclosed parenthesis


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[str]:
    """A real Prometheus scraping itself every second; yields once it has two scrapes,
    so that rate() over its own counters has data."""
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
        while time.monotonic() < deadline:  # poll for the second scrape
            try:
                answer = requests.get(
                    f"{url}/api/v1/query",
                    params={"query": "count_over_time(up[1m]) > 1"},
                    timeout=1,
                )
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


def dashboard(uid: str, *exprs: str) -> dict:
    """A small dashboard shaped like the repository's, one panel per query."""
    return {
        "uid": uid,
        "title": uid.title(),
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "job", "type": "query", "current": {"value": "$__all"}},
            ]
        },
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": f"panel {i + 1}",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [{"refId": "A", "expr": expr}],
            }
            for i, expr in enumerate(exprs)
        ],
    }


def folder_with(tmp_path: Path, *dashboards: dict) -> Path:
    directory = tmp_path / "dashboards"
    directory.mkdir()
    for d in dashboards:
        (directory / f"{d['uid']}.json").write_text(json.dumps(d))
    return directory


def check(*args: str | Path, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "python"), str(CHECKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": path},
    )


def test_repository_queries_parse_offline():
    result = check("--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)
    assert report["queries"] >= 40 and report["failed"] == []


def test_a_syntax_error_is_named_offline(tmp_path):
    directory = folder_with(
        tmp_path,
        dashboard("fine", 'sum(rate(up{job=~"$job"}[$__rate_interval]))'),
        dashboard("typo", "up", BROKEN),
    )
    result = check("--dashboards", directory)
    assert result.returncode == 1, explain(result)
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1, result.stdout
    assert "typo / 'panel 2' [A]" in failed[0] and "unclosed left parenthesis" in failed[0]


def test_repository_queries_run_on_a_real_prometheus(prometheus):
    result = check("--prometheus-url", prometheus, "--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)
    assert report["failed"] == []  # empty results are fine: nothing of snip runs here
    assert report["queries"] == json.loads(check("--json").stdout)["queries"]


def test_failing_and_empty_queries_online(tmp_path, prometheus):
    directory = folder_with(
        tmp_path,
        dashboard(
            "q",
            'sum(rate(prometheus_http_requests_total{job=~"$job"}[$__rate_interval]))',
            'up{job="no-such-job"}',
            BROKEN,
        ),
    )
    result = check("--dashboards", directory, "--prometheus-url", prometheus, "--json")
    assert result.returncode == 1, explain(result)
    report = json.loads(result.stdout)
    assert len(report["failed"]) == 1 and "q / 'panel 3'" in report["failed"][0]
    assert len(report["empty"]) == 1 and "no-such-job" in report["empty"][0]

    # Without the broken panel, an empty result fails only with --require-data.
    data = json.loads((directory / "q.json").read_text())
    data["panels"].pop()
    (directory / "q.json").write_text(json.dumps(data))
    assert check("--dashboards", directory, "--prometheus-url", prometheus).returncode == 0
    strict = check("--dashboards", directory, "--prometheus-url", prometheus, "--require-data")
    assert strict.returncode == 1, explain(strict)
    assert "EMPTY" in strict.stdout and "no-such-job" in strict.stdout


def test_unreadable_file_exits_2(tmp_path):
    directory = folder_with(tmp_path, dashboard("fine", "up"))
    (directory / "broken.json").write_text("{not json")
    result = check("--dashboards", directory)
    assert result.returncode == 2, explain(result)
    assert "broken.json: not valid JSON" in result.stdout


def test_unreachable_prometheus_exits_3():
    result = check("--prometheus-url", f"http://127.0.0.1:{servers.free_port()}")
    assert result.returncode == 3, explain(result)
    assert "ERROR" in result.stderr


def test_without_promtool_it_says_how_to_get_it(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = check(path=str(empty_bin))
    assert result.returncode == 69, explain(result)
    assert "apt-get install prometheus" in result.stderr


def test_help_and_usage():
    assert check("--help").returncode == 0
    assert check("--require-data").returncode == 64  # needs a Prometheus to ask


def test_make_dashboards_runs_the_checker():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    assert shutil.which("promtool"), "promtool is installed by make test (requirements/debian.txt)"
    result = subprocess.run(
        ["make", "--no-print-directory", "dashboards"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, explain(result)
    assert "panel queries parsed offline (promtool): 0 failed" in result.stdout
