"""Receivers come from a Secret (k8s/monitoring/alertmanager/receivers.example.yml) and the
routing is proven with the real Alertmanager.

The example is a full Alertmanager config: the committed routing (same route tree and
inhibit rules as alertmanager.yml, checked here) plus webhook, Slack, PagerDuty and e-mail
integrations for the operator and a webhook for the Watchdog's dead-man's switch. The
end-to-end test runs Alertmanager on the example with its URLs pointed at a local HTTP
server and proves: the Watchdog heartbeat reaches the dead-man's switch and nothing else;
a critical alert reaches the webhook, Slack and PagerDuty integrations (in their own
payload formats) and never the dead-man's switch. The e-mail integration is checked by
amtool only (no SMTP server here).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.monitoring import stack
from tests.support.servers import REPO_ROOT, free_port
from tests.support.tools import run, tool

ALERTMANAGER_DIR = REPO_ROOT / "k8s" / "monitoring" / "alertmanager"
EXAMPLE = ALERTMANAGER_DIR / "receivers.example.yml"
DEFAULT = ALERTMANAGER_DIR / "alertmanager.yml"


def test_the_example_routes_exactly_like_the_committed_config():
    example, default = stack.load_one(EXAMPLE), stack.load_one(DEFAULT)
    assert example["route"] == default["route"]
    assert example["inhibit_rules"] == default["inhibit_rules"]
    assert {r["name"] for r in example["receivers"]} == {r["name"] for r in default["receivers"]}
    integrations = {k for r in example["receivers"] for k in r if k.endswith("_configs")}
    assert integrations == {
        "webhook_configs",
        "slack_configs",
        "pagerduty_configs",
        "email_configs",
    }


def test_amtool_accepts_the_example():
    result = run([tool("amtool"), "check-config", str(EXAMPLE)])
    assert result.returncode == 0, result.stdout + result.stderr


class Recorder:
    """Records every POST by path: what each integration delivered."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, dict[str, Any]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[str]:
        return [json.dumps(body) for p, body in list(self.received) if p == path]


def local_example(recorder: Recorder) -> dict[str, Any]:
    config = stack.load_one(EXAMPLE)

    def shorten(route: dict[str, Any]) -> None:
        route.update(group_wait="0s", group_interval="1s", repeat_interval="1h")
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    receivers = {r["name"]: r for r in config["receivers"]}
    operator, watchdog = receivers["operator"], receivers["watchdog"]
    operator["webhook_configs"][0]["url"] = recorder.url("/webhook")
    operator["slack_configs"][0]["api_url"] = recorder.url("/slack")
    operator["pagerduty_configs"][0]["url"] = recorder.url("/pagerduty")
    del operator["email_configs"]  # no SMTP server here; amtool checked it above
    watchdog["webhook_configs"][0]["url"] = recorder.url("/deadman")
    return config


def post_alerts(alertmanager: stack.Daemon, *labelsets: dict[str, str]) -> None:
    now = datetime.now(UTC)
    alerts = [
        {
            "labels": labels,
            "annotations": {
                "summary": f"{labels['alertname']} test",
                "runbook_url": "https://x/#y",
            },
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
        }
        for labels in labelsets
    ]
    response = requests.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text


def test_real_alertmanager_routes_the_watchdog_to_the_dead_mans_switch_and_the_rest_to_the_operator(
    tmp_path: Path,
):
    recorder = Recorder()
    try:
        alertmanager = stack.alertmanager(tmp_path, local_example(recorder))
        with stack.running(alertmanager):
            post_alerts(
                alertmanager,
                {"alertname": "Watchdog", "severity": "info"},
                {"alertname": "RedisDown", "severity": "critical", "job": "redis-exporter"},
            )
            for path in ("/deadman", "/webhook", "/slack", "/pagerduty"):
                stack.wait_for(
                    f"a notification on {path}", lambda p=path: recorder.bodies(p), timeout=30
                )
            deadman = recorder.bodies("/deadman")
            assert all("Watchdog" in b and "RedisDown" not in b for b in deadman)
            for path in ("/webhook", "/slack", "/pagerduty"):
                bodies = recorder.bodies(path)
                assert any("RedisDown" in b for b in bodies), (path, bodies)
                assert not any("Watchdog" in b for b in bodies), (path, bodies)
            # Each integration spoke its own protocol.
            (pagerduty, *_) = [json.loads(b) for b in recorder.bodies("/pagerduty")]
            assert (
                pagerduty["event_action"] == "trigger"
                and pagerduty["payload"]["severity"] == "critical"
            )
            (slack, *_) = [json.loads(b) for b in recorder.bodies("/slack")]
            assert (
                slack["channel"] == "#snip-alerts"
                and "RedisDown" in slack["attachments"][0]["title"]
            )
    finally:
        recorder.server.shutdown()
        recorder.server.server_close()
