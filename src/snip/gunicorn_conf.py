"""gunicorn settings for snip: `gunicorn -c python:snip.gunicorn_conf "snip:create_app()"`.

Workers come from WEB_CONCURRENCY. Shutdown is graceful: on SIGTERM workers stop
accepting, finish in-flight requests for up to 25 s (Kubernetes waits 45 s), ship
their click log to the database, and exit. A worker that dies without that (SIGKILL,
out of memory) loses no click either: its log is on disk, and the worker that
replaces it adopts and ships it at boot (clicks.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

from snip.config import ConfigError, load_dotenv_file, load_settings, number, require_web_secret

load_dotenv_file()
try:
    _settings = load_settings()
    require_web_secret(_settings)
    _port = number(os.environ, "PORT", 8000, 1, 65535)
    # /metrics on its own port (0: on PORT, as in development): the public Service
    # never exposes it, whatever the ingress controller (src/snip/metrics.py).
    _metrics_port = number(os.environ, "METRICS_PORT", 0, 0, 65535)
    _workers = number(os.environ, "WEB_CONCURRENCY", 2, 1, 64)
except ConfigError as _exc:
    # Stop here, before forking workers, with the variable named.
    sys.stderr.write(f"snip: configuration error: {_exc}\n")
    sys.exit(2)

_host = os.environ.get("SNIP_BIND_HOST") or ("0.0.0.0" if _settings.production else "127.0.0.1")
bind = [f"{_host}:{_port}"] + ([f"{_host}:{_metrics_port}"] if _metrics_port else [])
workers = _workers
worker_class = "sync"
timeout = 30
graceful_timeout = 25
# gunicorn's runtime control socket is unused here, and would be written under $HOME,
# which is read-only in the container.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()

# Workers share metrics through *.db files in this directory (and readiness its
# "schema seen" mark). Stale files of a previous run would be added to this run's
# counters, so they go; nothing else in a directory the operator chose is touched.
_metrics_dir = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="snip-metrics-")
)
_metrics_dir.mkdir(parents=True, exist_ok=True)
for _stale in [*_metrics_dir.glob("*.db"), _metrics_dir / "snip-schema-seen"]:
    _stale.unlink(missing_ok=True)  # the second one: src/snip/health.py
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def _snip_state(worker):
    return getattr(worker.wsgi, "extensions", {}).get("snip")


def post_worker_init(worker) -> None:
    # Ship from boot: a successor adopts a dead worker's click log at once.
    state = _snip_state(worker)
    if state is not None:
        if state.clicks.countries is not None:
            state.clicks.countries.warm()  # before the first redirect, not during it
        state.shipper.start()


def worker_exit(server, worker) -> None:
    # A graceful stop ships this worker's click log to its end (and deletes it).
    state = _snip_state(worker)
    if state is not None:
        state.shipper.drain()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class JsonAccessLogger(Logger):
    """Access log as one JSON object per line, with the request id snip assigned."""

    def access(self, resp, req, environ, request_time) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(
            json.dumps(
                {
                    "time": atoms["t"].strip("[]"),
                    "logger": "access",
                    "remote": atoms["h"],
                    "method": atoms["m"],
                    "path": atoms["U"],
                    "status": atoms["s"],
                    "bytes": atoms["B"],
                    "duration_ms": round(request_time.total_seconds() * 1000, 2),
                    "user_agent": atoms["a"],
                    "request_id": resp.headers and dict(resp.headers).get("X-Request-ID", "-"),
                }
            )
        )


if _settings.production:
    logger_class = JsonAccessLogger
else:
    access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
