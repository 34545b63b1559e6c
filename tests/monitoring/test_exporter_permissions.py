"""The real exporter binaries start as the manifests run them and reach their server.

For each exporter Deployment in the rendered root (k8s/monitoring/exporters.yaml): the
mounted Secret files are written owned by root with the group Kubernetes gives them
(the pod's fsGroup, else root) and the volume's mode; the binary runs under `setpriv` as
the pod's runAsUser/runAsGroup with fsGroup as its supplementary group; the environment
is the container's, with paths under the mount points and addresses pointing at a
throwaway PostgreSQL and Redis. The exporter must then report its server up. The
defect: the postgres-exporter's password file was 0440 root:root with no fsGroup, so
uid 10013 could not read it and the exporter never connected.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.k8s.conftest import K8S, load_yaml_files
from tests.monitoring.stack import Daemon, wait_for
from tests.support import servers
from tests.support.tools import run, tool

PASSWORDS = {"EXPORTER_DB_PASSWORD": "pg-secret-1", "REDIS_PASSWORD": "redis-secret-2"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="writing root-owned files and switching uid needs root"
)


def exporters(tmp_path: Path) -> dict[str, dict]:
    rendered = run([tool("kubectl"), "kustomize", str(K8S)])
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "root.yaml").write_text(rendered.stdout)
    objects = load_yaml_files([tmp_path / "root.yaml"])[str(tmp_path / "root.yaml")]
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-exporter")
    }


def materialize(deployment: dict, root: Path) -> tuple[list[str], dict[str, str], Path]:
    """Write the container's Secret files as Kubernetes would; return (setpriv prefix,
    environment, mount root)."""
    spec = deployment["spec"]["template"]["spec"]
    pod_sc = spec.get("securityContext") or {}
    (container,) = spec["containers"]
    sc = {**pod_sc, **(container.get("securityContext") or {})}
    uid, gid, fs_group = sc["runAsUser"], sc["runAsGroup"], pod_sc.get("fsGroup")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]]["secret"]
        folder = root / mount["mountPath"].lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        for parent in folder.relative_to(root).parents:
            (root / parent).chmod(0o755)
        folder.chmod(0o755)
        for item in secret["items"]:
            path = folder / item["path"]
            path.write_text(PASSWORDS[item["key"]])
            os.chown(path, 0, fs_group if fs_group is not None else 0)
            path.chmod(item.get("mode", secret.get("defaultMode", 0o644)))
    env = {"PATH": "/usr/bin:/bin"}
    for var in container.get("env", []):
        if "valueFrom" in var:
            env[var["name"]] = PASSWORDS[var["valueFrom"]["secretKeyRef"]["key"]]
        else:
            value = var["value"]
            if value.startswith("/run/"):
                value = str(root / value.lstrip("/"))
            env[var["name"]] = value
    groups = ["--groups", str(fs_group)] if fs_group is not None else ["--clear-groups"]
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", *groups, "--"]
    return prefix, env, root


@pytest.fixture
def password_postgres(tmp_path):
    """A throwaway PostgreSQL whose role snip_exporter logs in with its password (scram)."""
    cluster = servers.PostgresCluster(tmp_path / "pg").init().start()
    with servers.running(cluster):
        import psycopg

        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute(
                f"CREATE ROLE snip_exporter LOGIN PASSWORD '{PASSWORDS['EXPORTER_DB_PASSWORD']}'"
            )
            conn.execute("GRANT pg_monitor TO snip_exporter")
            conn.execute("CREATE DATABASE snip")
        cluster.require_passwords()
        yield cluster


@pytest.fixture
def mounts() -> Iterator[Path]:
    """Where the volumes are written: outside pytest's root-only (0700) folders, so
    the exporter's uid can reach them, as it reaches /run/secrets in the pod."""
    root = Path(tempfile.mkdtemp(prefix="snip-mounts-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def metric(url: str, name: str) -> float | None:
    body = requests.get(f"{url}/metrics", timeout=5).text
    match = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


def test_postgres_exporter_reads_its_password_as_the_manifest_runs_it(
    tmp_path, mounts, password_postgres
):
    deployment = exporters(tmp_path)["snip-postgres-exporter"]
    prefix, env, _ = materialize(deployment, mounts)
    env["DATA_SOURCE_URI"] = re.sub(
        r"^[^/]+/", f"127.0.0.1:{password_postgres.port}/", env["DATA_SOURCE_URI"]
    )
    port = servers.free_port()
    daemon = Daemon(
        "postgres-exporter",
        [*prefix, tool("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{port}"],
        port,
        tmp_path / "postgres-exporter.log",
        env=env,
    )
    daemon.start()
    try:
        up = wait_for("pg_up 1", lambda: metric(daemon.url, "pg_up") == 1, timeout=15)
        assert up, (tmp_path / "postgres-exporter.log").read_text()[-2000:]
    except Exception:
        print((tmp_path / "postgres-exporter.log").read_text()[-3000:])
        raise
    finally:
        daemon.stop()


def test_redis_exporter_runs_as_the_manifest_runs_it(tmp_path, mounts):
    deployment = exporters(tmp_path)["snip-redis-exporter"]
    prefix, env, _ = materialize(deployment, mounts)
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port := servers.free_port()),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            PASSWORDS["REDIS_PASSWORD"],
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        servers.wait_for_port(port)
        env["REDIS_ADDR"] = f"redis://127.0.0.1:{port}"
        web = servers.free_port()
        daemon = Daemon(
            "redis-exporter",
            [*prefix, tool("prometheus-redis-exporter"), f"--web.listen-address=127.0.0.1:{web}"],
            web,
            tmp_path / "redis-exporter.log",
            ready_path="/health",
            env=env,
        )
        daemon.start()
        try:
            wait_for("redis_up 1", lambda: metric(daemon.url, "redis_up") == 1, timeout=15)
        finally:
            daemon.stop()
    finally:
        server.terminate()
        server.wait()
