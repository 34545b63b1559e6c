"""Prometheus and Alertmanager configuration, the Kubernetes manifests of the
monitoring stack, and the Prometheus Operator component."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.stack import (
    ALERTMANAGER_CONFIG,
    DASHBOARDS,
    MONITORING,
    PROMETHEUS_CONFIG,
    RULE_FILES,
    load_one,
    load_yaml,
    loopback_alertmanager_config,
    loopback_prometheus_config,
    write_json,
)
from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

# Jobs that only exist inside a cluster (Kubernetes API objects, kubelets).
CLUSTER_ONLY_JOBS = {"kube-state-metrics", "kubelet"}
# Pushed by the backup script to the Pushgateway, kept by honor_labels.
PUSHED_JOBS = {
    "snip-backup",
    "snip-backup-drill",
}  # Pushgateway jobs (db-backup.sh, restore-drill.sh)
# The two workloads that talk to the Kubernetes API.
API_CLIENTS = {"snip-prometheus", "snip-kube-state-metrics"}


@pytest.fixture(scope="module")
def cluster_config() -> dict[str, Any]:
    return load_one(PROMETHEUS_CONFIG)


# ------------------------------------------------------------- Prometheus


def test_in_cluster_config_passes_promtool(tmp_path: Path, cluster_config):
    """promtool checks the in-cluster file's syntax (its token and CA files only
    exist in a pod, hence --syntax-only).

    Debian's Prometheus is built without Kubernetes discovery, so it rejects
    `kubernetes_sd_configs` as an unknown field. Then the same config is checked
    with each discovery block replaced by a static target: everything else
    (relabelling regexes, TLS and authorization blocks, alerting) is still
    parsed by the real Prometheus code.
    """
    promtool = tool("promtool")
    direct = run([promtool, "check", "config", "--syntax-only", PROMETHEUS_CONFIG])
    if direct.returncode == 0:
        return
    assert "field kubernetes_sd_configs not found" in direct.stdout + direct.stderr, (
        direct.stdout + direct.stderr
    )
    for job in cluster_config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["discovered.invalid:80"]}]
    config = write_json(tmp_path / "prometheus.yml", cluster_config)
    result = run([promtool, "check", "config", "--syntax-only", config])
    assert result.returncode == 0, result.stdout + result.stderr


def test_discovery_stays_in_the_snip_namespace(cluster_config):
    for job in cluster_config["scrape_configs"]:
        for sd in job.get("kubernetes_sd_configs", []):
            if sd["role"] == "node":
                assert job["job_name"] == "kubelet"
            else:
                assert sd["role"] == "pod"
                assert sd["namespaces"]["names"] == ["snip"], job["job_name"]


def test_every_job_the_rules_and_dashboards_select_is_scraped(cluster_config):
    """A typo in a job name would leave an alert or a panel silently empty."""
    jobs = {job["job_name"] for job in cluster_config["scrape_configs"]} | PUSHED_JOBS
    texts = [p.read_text() for p in RULE_FILES + DASHBOARDS]
    selected = {m for text in texts for m in re.findall(r'job\\?="([^"\\]+)\\?"', text)}
    assert selected, "no job selector found: did the pattern break?"
    assert selected <= jobs, f"selected but never scraped: {selected - jobs}"


def test_loopback_config_passes_promtool(tmp_path: Path, cluster_config):
    """The variant the tests run, with the real rule files, fully checked."""
    local_jobs = {j["job_name"] for j in cluster_config["scrape_configs"]} - CLUSTER_ONLY_JOBS
    config = loopback_prometheus_config(
        {job: ["127.0.0.1:1"] for job in local_jobs}, RULE_FILES, alertmanager="127.0.0.1:2"
    )
    result = run([tool("promtool"), "check", "config", write_json(tmp_path / "p.yml", config)])
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------- Alertmanager


def test_alertmanager_config_passes_amtool(tmp_path: Path):
    amtool = tool("amtool")
    for config in (
        ALERTMANAGER_CONFIG,
        write_json(tmp_path / "am.yml", loopback_alertmanager_config("http://127.0.0.1:1/")),
    ):
        result = run([amtool, "check-config", config])
        assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_watchdog_apart_and_the_rest_to_the_operator():
    amtool = tool("amtool")
    routes = {
        "alertname=Watchdog severity=info": "watchdog",
        "alertname=RedisDown severity=critical": "operator",
    }
    for labels, receiver in routes.items():
        result = run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={ALERTMANAGER_CONFIG}",
                *labels.split(),
            ]
        )
        assert result.stdout.strip() == receiver, result.stdout + result.stderr


# -------------------------------------------------------------- manifests


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    result = run([tool("kubectl"), "kustomize", MONITORING])
    assert result.returncode == 0, result.stderr
    directory = tmp_path_factory.mktemp("monitoring-rendered")
    path = directory / "monitoring.yaml"
    path.write_text(result.stdout)
    return directory, load_yaml(path)[0]


def test_checkov_finds_nothing(rendered):
    directory, _ = rendered
    result = run(
        [
            tool("checkov"),
            "-d",
            directory,
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
        ]
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


def _workloads(objects):
    return [o for o in objects if o["kind"] == "Deployment"]


def test_every_workload_is_hardened_and_probed(rendered):
    _, objects = rendered
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    assert len(_workloads(objects)) == 8  # + the blackbox exporter
    for deploy in _workloads(objects):
        name = deploy["metadata"]["name"]
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        for key in ("name", "component", "part-of", "version"):
            assert f"app.kubernetes.io/{key}" in labels, (name, key)
        assert labels["app.kubernetes.io/part-of"] == "snip"
        pod = deploy["spec"]["template"]["spec"]
        account = accounts[pod["serviceAccountName"]]
        assert pod["serviceAccountName"] == name, "one ServiceAccount per workload, named after it"
        needs_api = name in API_CLIENTS
        assert pod["automountServiceAccountToken"] is needs_api, name
        assert account["automountServiceAccountToken"] is needs_api, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            image = container["image"]
            assert re.search(r":v?\d+\.\d+\.\d+$", image), (
                f"{name}: image {image} is not pinned to a version"
            )
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, (name, probe)
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]


def test_every_workload_has_a_network_policy(rendered):
    _, objects = rendered
    covered = {
        o["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
    }
    for deploy in _workloads(objects):
        assert (
            deploy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            in covered
        )
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", []):
            assert rule, f"{policy['metadata']['name']}: an empty rule allows everything"
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule without ports"


def test_generated_configmaps_carry_every_rule_and_dashboard_file(rendered):
    _, objects = rendered
    data = {
        o["metadata"]["name"].rsplit("-", 1)[0]: o["data"]
        for o in objects
        if o["kind"] == "ConfigMap"
    }
    assert set(data["snip-prometheus-rules"]) == {p.name for p in RULE_FILES}
    assert set(data["snip-grafana-dashboards"]) == {p.name for p in DASHBOARDS}
    assert data["snip-prometheus-config"]["prometheus.yml"] == PROMETHEUS_CONFIG.read_text()


# --------------------------------------------------------------- operator


def test_prometheusrule_is_generated_from_the_rule_files():
    result = run(["python3", MONITORING / "operator" / "generate.py", "--check"])
    assert result.returncode == 0, result.stderr
    generated = load_one(MONITORING / "operator" / "prometheusrule.yaml")
    source_groups = [g for docs in load_yaml(*RULE_FILES) for g in docs[0]["groups"]]
    assert generated["kind"] == "PrometheusRule"
    assert generated["spec"]["groups"] == source_groups


def test_operator_component_builds_on_top_of_the_stack(tmp_path: Path):
    # Kustomize only reads files below the overlay's folder: link the tree in.
    (tmp_path / "k8s").symlink_to(REPO_ROOT / "k8s")
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [k8s/monitoring]\ncomponents: [k8s/monitoring/operator]\n"
    )
    result = run([tool("kubectl"), "kustomize", tmp_path])
    assert result.returncode == 0, result.stderr
    kinds = re.findall(r"^kind: (\w+)$", result.stdout, flags=re.MULTILINE)
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= set(kinds)
