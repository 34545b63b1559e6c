"""The kustomize tree builds: the root, every folder, every overlay, every component combination.

`kubectl apply -k` on any of them would fail the same way a build fails here, so a
green run proves no operator meets a broken kustomization.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.k8s.conftest import (
    COMPONENTS,
    K8S,
    OVERLAYS,
    PLANNED_FOLDERS,
    Rendering,
    load_yaml_files,
    rel,
)
from tests.support.tools import run, tool

KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
# Components are not buildable alone (kind: Component); they are built through
# the combinations in conftest.variants().
BUILDABLE = [d for d in KUSTOMIZATIONS if d.parent.name != "components"]


@pytest.mark.parametrize("folder", BUILDABLE, ids=rel)
def test_every_kustomization_builds_on_its_own(folder: Path) -> None:
    proc = run([tool("kubectl"), "kustomize", str(folder)])
    assert proc.returncode == 0, f"kubectl kustomize {rel(folder)} failed:\n{proc.stderr}"
    assert "kind:" in proc.stdout, f"{rel(folder)} rendered nothing"


def test_root_overlays_and_component_combinations_all_render(
    renderings: dict[str, Rendering],
) -> None:
    """Root, each overlay, and each of them with each component (built by the fixture)."""
    expected = {"k8s", *(rel(o) for o in OVERLAYS)}
    assert expected <= set(renderings)
    assert len(renderings) >= len(expected) + len(COMPONENTS), sorted(renderings)
    for name, r in renderings.items():
        assert r.objects, f"{name} rendered no object"


def test_root_lists_the_planned_folders_and_no_link() -> None:
    """Listing a compatibility link as well as its folder would render objects twice."""
    kfile = K8S / "kustomization.yaml"
    (doc,) = load_yaml_files([kfile])[str(kfile)]
    assert doc["resources"] == PLANNED_FOLDERS
    for folder in PLANNED_FOLDERS:
        assert (K8S / folder / "kustomization.yaml").is_file(), f"k8s/{folder} has no kustomization"


@pytest.mark.parametrize("overlay", OVERLAYS, ids=rel)
def test_overlays_build_the_same_folders_as_the_root(overlay: Path) -> None:
    """Overlays cannot use `../..` (the root contains them), so they repeat its list."""
    kfile = overlay / "kustomization.yaml"
    (doc,) = load_yaml_files([kfile])[str(kfile)]
    assert doc["resources"] == [f"../../{f}" for f in PLANNED_FOLDERS]


def test_no_object_is_rendered_twice(renderings: dict[str, Rendering]) -> None:
    for name, r in renderings.items():
        seen: set[tuple[str, str, str]] = set()
        for obj in r.objects:
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            assert key not in seen, f"{name}: {key} rendered twice"
            seen.add(key)


# What the root renders besides monitoring/: a change here is deliberate, so this
# list changes with it (and the count in docs/kubernetes.md).
EXPECTED_ROOT = {
    ("Namespace", "snip"),
    ("ServiceAccount", "snip-api"),
    ("ConfigMap", "snip-config"),  # rendered as snip-config-<hash of its data>
    ("Service", "snip-api"),
    ("Deployment", "snip-api"),
    ("PersistentVolumeClaim", "snip-postgres-data"),
    ("PersistentVolumeClaim", "snip-redis-data"),
    ("PersistentVolumeClaim", "snip-prometheus-data"),
    ("Role", "snip-deployer"),
    ("Role", "snip-operator-readonly"),
    ("RoleBinding", "snip-deployer"),
    ("RoleBinding", "snip-operator-readonly"),
    ("NetworkPolicy", "default-deny-all"),
    ("NetworkPolicy", "allow-dns-egress"),
    ("NetworkPolicy", "api"),
    ("NetworkPolicy", "postgres"),
    ("NetworkPolicy", "redis"),
    ("NetworkPolicy", "flusher-and-purge"),
    ("NetworkPolicy", "backup"),
    ("ServiceAccount", "snip-postgres"),
    ("Service", "snip-postgres"),
    ("Service", "snip-postgres-headless"),
    ("ConfigMap", "snip-postgres-init"),
    ("StatefulSet", "snip-postgres"),
    ("PodDisruptionBudget", "snip-postgres"),
    ("ServiceAccount", "snip-redis"),
    ("ConfigMap", "snip-redis-config"),
    ("Service", "snip-redis"),
    ("Service", "snip-redis-headless"),
    ("StatefulSet", "snip-redis"),
    ("Ingress", "snip"),
    ("Ingress", "snip-metrics-blocked"),
    ("HorizontalPodAutoscaler", "snip-api"),
    ("PodDisruptionBudget", "snip-api"),
    ("ServiceAccount", "snip-flusher"),
    ("Deployment", "snip-flusher"),
    ("ServiceAccount", "snip-backup"),
    ("CronJob", "snip-backup"),
    ("ServiceAccount", "snip-backup-drill"),
    ("CronJob", "snip-backup-drill"),
    ("ConfigMap", "snip-pgbackrest"),
    ("NetworkPolicy", "postgres-backups"),
    ("NetworkPolicy", "backup-object-store"),
    ("ServiceAccount", "snip-purge"),
    ("CronJob", "snip-purge-expired"),
}


def unhashed(name: str) -> str:
    """snip-config-<10-character kustomize hash> -> snip-config."""
    return re.sub(r"^(snip-config)-[a-z0-9]{10}$", r"\1", name)


def test_root_renders_exactly_the_expected_objects(root: Rendering, tmp_path: Path) -> None:
    """Whatever monitoring/ adds, the rest of the root is exactly EXPECTED_ROOT."""
    monitoring = run([tool("kubectl"), "kustomize", str(K8S / "monitoring")])
    assert monitoring.returncode == 0, monitoring.stderr
    (tmp_path / "monitoring.yaml").write_text(monitoring.stdout)
    mon_objects = load_yaml_files([tmp_path / "monitoring.yaml"])[str(tmp_path / "monitoring.yaml")]
    mon = {(o["kind"], o["metadata"]["name"]) for o in mon_objects}
    ours = {(o["kind"], unhashed(o["metadata"]["name"])) for o in root.objects} - (
        mon - EXPECTED_ROOT
    )
    assert ours == EXPECTED_ROOT, (
        f"missing: {sorted(EXPECTED_ROOT - ours)}; unexpected: {sorted(ours - EXPECTED_ROOT)}"
    )
