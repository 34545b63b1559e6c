"""The Prometheus Operator path (k8s/monitoring/operator), offline on the rendering of the
root with the component: a Prometheus in another namespace is admitted by the
NetworkPolicies to every metrics port, and the ServiceMonitor finds the API's metrics
port under the job name the rules select on (snip-api), on a Service that is not the
public one."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.monitoring.stack import load_yaml
from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

K8S = REPO_ROOT / "k8s"
OPERATOR_PROMETHEUS = (
    {"kubernetes.io/metadata.name": "monitoring"},
    {"app.kubernetes.io/name": "prometheus"},
)
SCRAPED = {
    "api": 8081,
    "postgres-exporter": 9187,
    "redis-exporter": 9121,
    "pushgateway": 9091,
    "kube-state-metrics": 8080,
}


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> list[dict[str, Any]]:
    d = tmp_path_factory.mktemp("operator")
    (d / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(K8S, d)}\n"
        f"components:\n  - {os.path.relpath(K8S / 'monitoring' / 'operator', d)}\n"
    )
    result = run([tool("kubectl"), "kustomize", str(d)])
    assert result.returncode == 0, result.stderr
    (d / "out.yaml").write_text(result.stdout)
    return load_yaml(d / "out.yaml")[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def admitted(policies, pod_labels, port, peer_ns, peer_pod) -> bool:
    """Ingress of a pod in namespace snip from a pod in another namespace."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"].get("policyTypes", [])
        and selects(p["spec"]["podSelector"], pod_labels)
    ]
    for p in selecting:
        for rule in p["spec"].get("ingress", []):
            if "ports" in rule and not any(x.get("port") == port for x in rule["ports"]):
                continue
            for peer in rule.get("from", []):
                # A peer without namespaceSelector means "this namespace" (snip) only.
                if (
                    "namespaceSelector" in peer
                    and selects(peer["namespaceSelector"], peer_ns)
                    and selects(peer.get("podSelector", {}), peer_pod)
                ):
                    return True
    return False


def pod_labels(objects, component):
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            labels = o["spec"]["template"]["metadata"]["labels"]
            if labels.get("app.kubernetes.io/component") == component:
                return labels, o["spec"]["template"]["spec"]
    raise AssertionError(component)


@pytest.mark.parametrize("component", sorted(SCRAPED))
def test_a_prometheus_in_another_namespace_may_scrape(objects, component):
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    labels, spec = pod_labels(objects, component)
    port = SCRAPED[component]
    assert port in {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
    assert admitted(policies, labels, port, *OPERATOR_PROMETHEUS)
    # ...and only that namespace's Prometheus, not any pod of any namespace.
    assert not admitted(
        policies, labels, port, {"kubernetes.io/metadata.name": "default"}, OPERATOR_PROMETHEUS[1]
    )


def test_without_the_component_it_would_be_dropped(tmp_path):
    result = run([tool("kubectl"), "kustomize", str(K8S)])
    (tmp_path / "root.yaml").write_text(result.stdout)
    root = load_yaml(tmp_path / "root.yaml")[0]
    labels, _ = pod_labels(root, "api")
    assert not admitted(
        [o for o in root if o["kind"] == "NetworkPolicy"], labels, 8081, *OPERATOR_PROMETHEUS
    )


def test_the_service_monitor_finds_the_metrics_port_as_job_snip_api(objects):
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    services = [
        o
        for o in objects
        if o["kind"] == "Service" and selects(monitor["spec"]["selector"], o["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["snip-api-metrics"]
    (service,) = services
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "snip-api"
    (endpoint,) = monitor["spec"]["endpoints"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    _, spec = pod_labels(objects, "api")
    assert port["targetPort"] in {p["name"] for c in spec["containers"] for p in c.get("ports", [])}
    public = next(
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "snip-api"
    )
    assert 8081 not in {p["port"] for p in public["spec"]["ports"]}
