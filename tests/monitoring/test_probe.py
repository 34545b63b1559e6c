"""The synthetic probe (k8s/monitoring/blackbox) with the real blackbox exporter against a
real snip under gunicorn: the shipped `http_redirect` module succeeds on a short link's
redirect and fails on a dead link, so SnipRedirectProbeFailing means what it says.

No TLS here: the module's `fail_if_not_ssl` (true in the cluster, where the probe goes
to https://) is the one setting turned off, and a test proves it is on in the shipped file.
"""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.monitoring.stack import Daemon, load_one, write_json
from tests.support import servers
from tests.support.servers import REPO_ROOT
from tests.support.tools import tool

BLACKBOX_CONFIG = REPO_ROOT / "k8s" / "monitoring" / "blackbox" / "blackbox.yml"
PROMETHEUS_CONFIG = REPO_ROOT / "k8s" / "monitoring" / "prometheus" / "prometheus.yml"


def probe(exporter: Daemon, target: str) -> dict[str, float]:
    body = requests.get(
        f"{exporter.url}/probe", params={"module": "http_redirect", "target": target}, timeout=10
    ).text
    return {m[0]: float(m[1]) for m in re.findall(r"^(probe_\w+) (\S+)$", body, re.M)}


def test_the_probe_module_expects_a_redirect_over_tls():
    module = load_one(BLACKBOX_CONFIG)["modules"]["http_redirect"]["http"]
    assert module["fail_if_not_ssl"] is True and module["follow_redirects"] is False
    assert module["valid_status_codes"] == [301, 302, 307, 308]
    job = next(
        j
        for j in load_one(PROMETHEUS_CONFIG)["scrape_configs"]
        if j["job_name"] == "blackbox-redirect"
    )
    (target,) = job["static_configs"][0]["targets"]
    config = (REPO_ROOT / "k8s" / "core" / "flask-api.yaml").read_text()
    base_url = re.search(r"SNIP_BASE_URL: (\S+)", config).group(1)
    assert target == f"{base_url}/canary", "the probe must follow the canary on the public host"


def test_the_real_blackbox_exporter_sees_redirects_and_dead_links(tmp_path: Path):
    env = servers.snip_env(DATABASE_URL=f"sqlite:///{tmp_path}/snip.db")
    servers.run_snip_cli("db", "upgrade", env=env)
    key = servers.create_key(env, "probe")
    server = servers.SnipServer(env=env, workers=1).start()
    with servers.running(server):
        made = requests.post(
            f"{server.url}/api/v1/links",
            json={"url": "https://example.com/landing", "slug": "canary"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        assert made.status_code == 201, made.text
        config = load_one(BLACKBOX_CONFIG)
        config["modules"]["http_redirect"]["http"]["fail_if_not_ssl"] = False  # no TLS here
        port = servers.free_port()
        exporter = Daemon(
            "blackbox-exporter",
            [
                tool("prometheus-blackbox-exporter"),
                f"--config.file={write_json(tmp_path / 'blackbox.yml', config)}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            port,
            tmp_path / "blackbox.log",
            ready_path="/-/healthy",
        )
        exporter.start()
        try:
            alive = probe(exporter, f"{server.url}/canary")
            assert alive["probe_success"] == 1 and alive["probe_http_status_code"] == 302
            dead = probe(exporter, f"{server.url}/no-such-link")
            assert dead["probe_success"] == 0 and dead["probe_http_status_code"] == 404
        finally:
            exporter.stop()
