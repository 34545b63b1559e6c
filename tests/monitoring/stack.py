"""The monitoring stack on loopback, for the tests: real Prometheus, Alertmanager,
exporters and Pushgateway processes on free ports, plus a webhook receiver.

The in-cluster files in k8s/monitoring/ are the source of truth; this module
derives the loopback variants from them instead of keeping second copies:

- Prometheus: the same rule files, job names and `honor_labels`, with static
  loopback targets in place of Kubernetes discovery, and shorter intervals;
- rules: the same file with every `for:` shortened (FOR_OVERRIDE), so an alert
  that waits minutes in production fires in about a second here;
- Alertmanager: the committed routing tree and inhibitions, with the operator's
  receiver pointed at the test's webhook and the group timers shortened.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import REPO_ROOT, free_port
from tests.support.tools import run, tool

MONITORING = REPO_ROOT / "k8s" / "monitoring"
RULES_DIR = MONITORING / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
RULE_TESTS = sorted((RULES_DIR / "tests").glob("*.yaml"))
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
RUNBOOK = REPO_ROOT / "Runbook.md"
RUNBOOK_URL_PREFIX = "https://github.com/snip-project/snip/blob/main/Runbook.md#"

FOR_LINE = re.compile(r"^(?P<indent>\s+)for: \S+$", re.MULTILINE)


# ------------------------------------------------------------------ YAML


_PARSE = (
    "import json, sys, yaml\n"
    "docs = [[d for d in yaml.safe_load_all(open(p)) if d is not None] for p in sys.argv[1:]]\n"
    "print(json.dumps(docs))\n"
)


def load_yaml(*paths: Path) -> list[list[Any]]:
    """Every document of every file. PyYAML is not a dependency of snip's
    virtualenv, so the interpreter of the .tools/ checkers (which carries it)
    parses and hands JSON back."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        script = Path(tool("yamllint"))
        python = script.parent / "python"
        proc = run([python, "-c", _PARSE, *paths])
        assert proc.returncode == 0, f"could not parse YAML: {proc.stderr}"
        return json.loads(proc.stdout)
    return [[d for d in yaml.safe_load_all(p.read_text()) if d is not None] for p in paths]


def load_one(path: Path) -> Any:
    return load_yaml(path)[0][0]


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule (not recording rule) in the rule files."""
    found = []
    for doc in (docs[0] for docs in load_yaml(*RULE_FILES)):
        for group in doc["groups"]:
            found += [rule for rule in group["rules"] if "alert" in rule]
    return found


# -------------------------------------------------------- derived configs


def shortened_rules(directory: Path, for_override: str = "1s") -> list[Path]:
    """Copies of the rule files with every `for:` set to ``for_override``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for path in RULE_FILES:
        text, count = FOR_LINE.subn(lambda m: f"{m['indent']}for: {for_override}", path.read_text())
        if path.name == "alerts.yaml":
            assert count > 0, "no `for:` line found to shorten: did the rule format change?"
        target = directory / path.name
        target.write_text(text)
        out.append(target)
    return out


def loopback_prometheus_config(
    targets: dict[str, list[str]],
    rule_files: list[Path],
    alertmanager: str | None,
    interval: str = "1s",
) -> dict[str, Any]:
    """The in-cluster config with static loopback targets per job.

    Only jobs that exist in the in-cluster config may be given, so the job names
    the alert rules select on are exercised exactly as deployed.
    """
    cluster = load_one(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in cluster["scrape_configs"]}
    unknown = set(targets) - set(jobs)
    assert not unknown, f"jobs {unknown} are not in {PROMETHEUS_CONFIG.name}"
    scrape_configs = []
    for name, addresses in targets.items():
        job = {"job_name": name, "static_configs": [{"targets": addresses}]}
        if jobs[name].get("honor_labels"):
            job["honor_labels"] = True
        scrape_configs.append(job)
    config: dict[str, Any] = {
        "global": {
            **cluster["global"],
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": scrape_configs,
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def loopback_alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The committed Alertmanager config, delivering to ``webhook_url`` at once."""
    config = load_one(ALERTMANAGER_CONFIG)

    def shorten(route: dict[str, Any]) -> None:
        route.update(group_wait="0s", group_interval="1s", repeat_interval="1h")
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    for receiver in config["receivers"]:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return config


def write_json(path: Path, data: Any) -> Path:
    """JSON is YAML, so Prometheus and Alertmanager read these files as is."""
    path.write_text(json.dumps(data, indent=2))
    return path


# -------------------------------------------------------------- processes


@dataclass
class Daemon:
    """A server binary on a loopback port, its output in a log file."""

    name: str
    argv: list[str]
    port: int
    log: Path
    ready_path: str = "/"
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Daemon:
        handle = open(self.log, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            self.argv, stdout=handle, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log.read_text(errors="replace")
            if self.process.poll() is not None or "address already in use" in log:
                # Other sessions on this machine start servers on free ports too:
                # never mistake their server for ours.
                self.stop()
                raise RuntimeError(
                    f"{self.name} could not start on port {self.port}:\n{log[-3000:]}"
                )
            with contextlib.suppress(requests.RequestException):
                answered = requests.get(self.url + self.ready_path, timeout=1).status_code == 200
                # Ours answered only if our process logged its own address.
                if answered and f"127.0.0.1:{self.port}" in log and self.process.poll() is None:
                    return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def prometheus(workdir: Path, config: dict[str, Any], port: int | None = None) -> Daemon:
    """``port``: when the config must name Prometheus' own address before it starts."""
    port = port or free_port()
    config_file = write_json(workdir / "prometheus.yml", config)
    return Daemon(
        "prometheus",
        [
            tool("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Alerts that fire before Prometheus has found its Alertmanager (a
            # few seconds) are dropped and only re-sent after this delay (1m by
            # default): keep it short so the always-firing Watchdog arrives.
            "--rules.alert.resend-delay=1s",
        ],
        port,
        workdir / "prometheus.log",
        ready_path="/-/ready",
    )


def alertmanager(workdir: Path, config: dict[str, Any]) -> Daemon:
    port = free_port()
    config_file = write_json(workdir / "alertmanager.yml", config)
    return Daemon(
        "alertmanager",
        # An empty cluster address turns gossip off: no second port, no peers.
        [
            tool("prometheus-alertmanager"),
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        port,
        workdir / "alertmanager.log",
        ready_path="/-/ready",
    )


def postgres_exporter(workdir: Path, database_url: str) -> Daemon:
    port = free_port()
    dsn = database_url + ("&" if "?" in database_url else "?") + "sslmode=disable"
    return Daemon(
        "postgres-exporter",
        [tool("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{port}"],
        port,
        workdir / "postgres-exporter.log",
        env={"DATA_SOURCE_NAME": dsn, "PATH": "/usr/bin:/bin"},
    )


def redis_exporter(workdir: Path, redis_url: str) -> Daemon:
    port = free_port()
    return Daemon(
        "redis-exporter",
        [
            tool("prometheus-redis-exporter"),
            f"--redis.addr={redis_url}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        workdir / "redis-exporter.log",
        ready_path="/health",
    )


def pushgateway(workdir: Path) -> Daemon:
    port = free_port()
    return Daemon(
        "pushgateway",
        [tool("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}"],
        port,
        workdir / "pushgateway.log",
        ready_path="/-/ready",
    )


@contextlib.contextmanager
def running(*daemons: Daemon) -> Iterator[None]:
    started: list[Daemon] = []
    try:
        for daemon in daemons:
            started.append(daemon.start())
        yield
    finally:
        for daemon in reversed(started):
            daemon.stop()


# ---------------------------------------------------------------- queries


def query(prom: Daemon, expr: str) -> dict[str, Any]:
    """Run an instant query; the parsed JSON answer (status error included)."""
    response = requests.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10)
    return response.json()


def scalar(prom: Daemon, expr: str) -> float | None:
    """The single value of a query, or None when it returns nothing."""
    answer = query(prom, expr)
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    if not result:
        return None
    assert len(result) == 1, f"{expr} returned {len(result)} series"
    return float(result[0]["value"][1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


# ---------------------------------------------------------------- webhook


@dataclass
class Webhook:
    """An HTTP server that records what Alertmanager posts to it."""

    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def __enter__(self) -> Webhook:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def notifications(self, alertname: str, status: str) -> list[dict[str, Any]]:
        """Notifications whose group is ``alertname`` and whose status is ``status``."""
        return [
            n
            for n in list(self.received)
            if n.get("groupLabels", {}).get("alertname") == alertname and n.get("status") == status
        ]
