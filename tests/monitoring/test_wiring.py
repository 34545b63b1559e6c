"""The monitoring stack wired to the rest of k8s/, proven offline on the rendered
root (`kubectl kustomize k8s`), since no cluster runs here:

- every pod-discovery job of the in-cluster Prometheus config keeps a
  (component label, container port name) pair that some pod really has;
- every path monitoring needs is open through the NetworkPolicies on both
  ends (egress of the client, ingress of the server), by a small evaluator of
  the NetworkPolicy rules these manifests use.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.monitoring.stack import PROMETHEUS_CONFIG, load_one, load_yaml
from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

COMPONENT = "app.kubernetes.io/component"

# (client component, server component, port): the paths monitoring needs.
PATHS = [
    ("prometheus", "api", 8081),
    ("prometheus", "postgres-exporter", 9187),
    ("prometheus", "redis-exporter", 9121),
    ("prometheus", "pushgateway", 9091),
    ("prometheus", "alertmanager", 9093),
    ("prometheus", "kube-state-metrics", 8080),
    ("grafana", "prometheus", 9090),
    ("postgres-exporter", "postgres", 5432),
    ("redis-exporter", "redis", 6379),
    ("backup", "pushgateway", 9091),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    result = run([tool("kubectl"), "kustomize", REPO_ROOT / "k8s"])
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("root") / "root.yaml"
    path.write_text(result.stdout)
    return load_yaml(path)[0]


def _pod_templates(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    templates = []
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] in ("Deployment", "StatefulSet"):
            templates.append(spec["template"])
        elif obj["kind"] == "CronJob":
            templates.append(spec["jobTemplate"]["spec"]["template"])
    return templates


def _pod(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    found = [
        t for t in _pod_templates(objects) if t["metadata"]["labels"].get(COMPONENT) == component
    ]
    assert found, f"no pod with {COMPONENT}={component} in the rendered root"
    return found[0]


def test_every_discovery_job_matches_a_real_pod_and_port(root):
    pairs = {
        (t["metadata"]["labels"].get(COMPONENT), port.get("name"))
        for t in _pod_templates(root)
        for container in t["spec"]["containers"]
        for port in container.get("ports", [])
    }
    config = load_one(PROMETHEUS_CONFIG)
    checked = 0
    for job in config["scrape_configs"]:
        if not any(sd["role"] == "pod" for sd in job.get("kubernetes_sd_configs", [])):
            continue
        keep = next(
            r
            for r in job["relabel_configs"]
            if r.get("action") == "keep"
            and r["source_labels"][0].endswith("app_kubernetes_io_component")
        )
        component, port_name = keep["regex"].split(";")
        assert (component, port_name) in pairs, (
            f"job {job['job_name']}: no pod {component} with port {port_name}"
        )
        checked += 1
    assert checked == 6


# ------------------------------------------------------ NetworkPolicies


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", "the evaluator knows only `In`"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _port_allowed(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def _peer_allowed(rule: dict[str, Any], direction: str, labels: dict[str, str]) -> bool:
    peers = rule.get(direction)
    if peers is None:
        return True  # no `to`/`from`: any address
    return any(
        "namespaceSelector" not in peer
        and "podSelector" in peer
        and _selects(peer["podSelector"], labels)
        for peer in peers
    )


def _allowed(policies, pod_labels, kind, peer_labels, port) -> bool:
    """Kubernetes semantics: isolated if some policy of this kind selects the pod;
    then allowed if one of those policies' rules admits the peer and port."""
    field, peer_field = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    selecting = [
        p
        for p in policies
        if kind in p["spec"].get("policyTypes", [])
        and _selects(p["spec"]["podSelector"], pod_labels)
    ]
    return not selecting or any(
        _peer_allowed(rule, peer_field, peer_labels) and _port_allowed(rule, port)
        for p in selecting
        for rule in p["spec"].get(field, [])
    )


def test_the_default_deny_is_in_force(root):
    policies = [o for o in root if o["kind"] == "NetworkPolicy"]
    assert any(
        p["spec"]["podSelector"] == {} and {"Ingress", "Egress"} <= set(p["spec"]["policyTypes"])
        for p in policies
    )
    # ...so the evaluator must refuse a path nobody opened:
    grafana = _pod(root, "grafana")["metadata"]["labels"]
    postgres = _pod(root, "postgres")["metadata"]["labels"]
    assert not _allowed(policies, grafana, "Egress", postgres, 5432)


@pytest.mark.parametrize(
    ("client", "server", "port"), PATHS, ids=[f"{c}->{s}:{p}" for c, s, p in PATHS]
)
def test_network_policies_open_the_path(root, client, server, port):
    policies = [o for o in root if o["kind"] == "NetworkPolicy"]
    client_labels = _pod(root, client)["metadata"]["labels"]
    server_pod = _pod(root, server)
    server_labels = server_pod["metadata"]["labels"]
    listening = {
        p["containerPort"] for c in server_pod["spec"]["containers"] for p in c.get("ports", [])
    }
    assert port in listening, f"{server} does not listen on {port}"
    assert _allowed(policies, client_labels, "Egress", server_labels, port), (
        f"{client} may not connect out"
    )
    assert _allowed(policies, server_labels, "Ingress", client_labels, port), (
        f"{server} does not admit {client}"
    )
