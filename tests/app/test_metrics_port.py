"""/metrics on its own port (METRICS_PORT), never on the application's port.

Kubernetes' public Service exposes only the application port, so with this no ingress
controller, Gateway or load balancer can serve the metrics, whatever its annotations.
Under gunicorn, as in the pods: the application port answers 404 for /metrics, even when
a client claims the metrics port in X-Forwarded-Host behind a trusted proxy.
"""

from __future__ import annotations

import requests

from tests.support import servers


def test_metrics_answer_only_on_the_metrics_port(pg_env):
    metrics_port = servers.free_port()
    env = servers.snip_env(**pg_env, METRICS_PORT=str(metrics_port), SNIP_TRUSTED_PROXIES="1")
    server = servers.SnipServer(env=env, workers=2).start()
    with servers.running(server):
        public = requests.get(f"{server.url}/metrics", timeout=5)
        assert public.status_code == 404
        spoofed = requests.get(
            f"{server.url}/metrics",
            headers={"X-Forwarded-Host": f"snip.example.com:{metrics_port}"},
            timeout=5,
        )
        assert spoofed.status_code == 404
        private = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert private.status_code == 200
        assert "snip_http_requests_total" in private.text
        # The application keeps working on its own port.
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
