"""The compatibility links at the root of k8s/ resolve, and the Runbook's apply order works.

Symlinks at the root of k8s/ keep the Runbook's `kubectl apply -f k8s/<file>`
commands working (docs/kubernetes.md lists them). A link made with
`ln -s k8s/core/... k8s/...` would dangle (a relative target is resolved from the
link's folder); these tests prove ours resolve into the concern folders, and that
applying the linked files one by one, in the Runbook's order, never refers to an
object that a later file defines (which would fail, or leave pods pending, on a fresh cluster).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.k8s.conftest import K8S, containers, ident, load_yaml_files, pod_template
from tests.support.servers import REPO_ROOT

# link name -> the file it must resolve to (docs/kubernetes.md, "The tree")
LINKS = {
    "namespace.yaml": "core/namespace.yaml",
    "persistent-volumes.yaml": "storage/persistent-volumes.yaml",
    "secrets.yaml": "security/secrets.yaml",
    "postgres.yaml": "database/postgres.yaml",
    "redis.yml": "cache/redis.yaml",
    "flask-api.yaml": "core/flask-api.yaml",
    "ingress.yaml": "networking/ingress.yaml",
}
# The order the Runbook applies them in (first-time install).
PLANNED_ORDER = list(LINKS)

# Objects the files may name without defining: made by someone else on purpose.
EXTERNAL = {
    # TLS certificate: cert-manager or `kubectl create secret tls` (docs/kubernetes.md).
    ("Secret", "snip-tls"),
}


@pytest.mark.parametrize("link", LINKS)
def test_link_resolves_into_the_planned_folder(link: str) -> None:
    path = K8S / link
    assert path.is_symlink(), f"k8s/{link} is not a symlink"
    target = os.readlink(path)
    assert not os.path.isabs(target), f"k8s/{link} -> {target}: absolute (breaks in a clone)"
    assert os.path.realpath(path) == str((K8S / LINKS[link]).resolve()), (
        f"k8s/{link} -> {target}, expected {LINKS[link]}"
    )
    assert path.stat().st_size > 0  # `ls -L` succeeds: the link does not dangle


def test_there_are_no_other_links_at_the_root() -> None:
    links = {p.name for p in K8S.iterdir() if p.is_symlink()}
    assert links == set(LINKS)


def references(obj: dict) -> set[tuple[str, str]]:
    """(kind, name) of the objects this one needs to exist before it works."""
    refs: set[tuple[str, str]] = set()
    namespace = obj["metadata"].get("namespace")
    if namespace:
        refs.add(("Namespace", namespace))
    kind = obj["kind"]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}:
        spec = pod_template(obj)["spec"]
        refs.add(("ServiceAccount", spec.get("serviceAccountName", "default")))
        for vol in spec.get("volumes", []):
            if "configMap" in vol:
                refs.add(("ConfigMap", vol["configMap"]["name"]))
            if "secret" in vol:
                refs.add(("Secret", vol["secret"]["secretName"]))
            if "persistentVolumeClaim" in vol:
                refs.add(("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"]))
        for c in containers(spec):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    refs.add(("ConfigMap", src["configMapRef"]["name"]))
                if "secretRef" in src:
                    refs.add(("Secret", src["secretRef"]["name"]))
            for env in c.get("env", []):
                ref = env.get("valueFrom") or {}
                if "configMapKeyRef" in ref:
                    refs.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
                if "secretKeyRef" in ref:
                    refs.add(("Secret", ref["secretKeyRef"]["name"]))
    if kind == "Ingress":
        for tls in obj["spec"].get("tls", []):
            refs.add(("Secret", tls["secretName"]))
        for rule in obj["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                refs.add(("Service", p["backend"]["service"]["name"]))
    if kind == "StatefulSet":
        refs.add(("Service", obj["spec"]["serviceName"]))
    return refs


def order_problems(order: list[str]) -> list[str]:
    files = [K8S / name for name in order]
    parsed = load_yaml_files(files)
    defined: set[tuple[str, str]] = set(EXTERNAL)
    problems = []
    for f in files:
        objects = parsed[str(f)]
        defined |= {(o["kind"], o["metadata"]["name"]) for o in objects}
        for obj in objects:
            for ref in sorted(references(obj) - defined):
                problems.append(
                    f"k8s/{f.name}: {ident(obj)} needs {ref[0]}/{ref[1]}, not yet applied"
                )
    return problems


def test_the_planned_apply_order_works() -> None:
    assert order_problems(PLANNED_ORDER) == []


def test_the_order_check_catches_a_wrong_order() -> None:
    """The check above can fail: the API before its Secret and claims is refused."""
    wrong = ["namespace.yaml", "flask-api.yaml", "secrets.yaml"]
    assert any("Secret/snip-secrets" in p for p in order_problems(wrong))
    assert any("Namespace/snip" in p for p in order_problems(["flask-api.yaml"]))


def test_the_runbook_applies_the_links_in_a_working_order() -> None:
    """Whatever order Runbook.md uses for `kubectl apply -f k8s/<link>` must work too."""
    runbook = REPO_ROOT / "Runbook.md"
    if not runbook.exists():
        pytest.skip("Runbook.md is not written yet")
    order: list[str] = []
    # Also `sed ... k8s/secrets.yaml | kubectl apply -f -`: any line that applies
    # and names a linked file counts.
    for line in runbook.read_text().splitlines():
        if "kubectl apply" not in line:
            continue
        for name in re.findall(r"k8s/([\w.-]+\.ya?ml)\b", line):
            if name in LINKS and name not in order:
                order.append(name)
    if not order:
        pytest.skip("Runbook.md applies no compatibility link")
    assert order_problems(order) == []
    assert order == [n for n in PLANNED_ORDER if n in order], f"Runbook order {order}"


def test_every_linked_file_is_also_built_by_its_folder() -> None:
    """Links are the same files the kustomize tree builds, not copies that drift."""
    for target in LINKS.values():
        folder = (K8S / target).parent
        text = (folder / "kustomization.yaml").read_text()
        assert Path(target).name in text, f"{target} is not in {folder.name}/kustomization.yaml"
