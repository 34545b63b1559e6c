"""What a release changes, and what a rollback must take back.

- Every workload running a snip image is in scripts/lib/kube.sh's lists, which
  rollback.sh and deploy.sh --auto-rollback undo (the flusher and the CronJobs too,
  not only the API).
- A configuration change is a new pod template: snip-config is rendered under a hash
  of its data and every workload names that hash, so changed values roll the pods
  and the previous ConfigMap stays for `rollout undo`.
- Migrations are the `migrate` init container of the long-running snip workloads:
  no Job, so nothing immutable stands in the way of the next `apply`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.k8s.conftest import K8S, Rendering, containers, ident, pod_template, workloads
from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

IMAGES = ("ghcr.io/snip-project/snip:", "ghcr.io/snip-project/snip-ops:")


def kube_lists() -> dict[str, set[str]]:
    script = (
        f'source {REPO_ROOT}/scripts/lib/kube.sh; echo "$SNIP_DEPLOYMENTS"; echo "$SNIP_CRONJOBS"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    deployments, cronjobs = out.stdout.splitlines()
    return {"Deployment": set(deployments.split()), "CronJob": set(cronjobs.split())}


def snip_workloads(rendering: Rendering) -> set[tuple[str, str]]:
    return {
        (w["kind"], w["metadata"]["name"])
        for w in workloads(rendering.objects)
        if any(c["image"].startswith(IMAGES) for c in containers(pod_template(w)["spec"]))
    }


def test_rollback_covers_every_workload_running_the_snip_images(renderings):
    lists = kube_lists()
    listed = {(kind, name) for kind, names in lists.items() for name in names}
    for name, rendering in renderings.items():
        found = snip_workloads(rendering)
        assert {k for k, _ in found} <= set(lists), f"{name}: {found}"
        assert found <= listed, f"{name}: not rolled back: {sorted(found - listed)}"
    assert snip_workloads(renderings["k8s"]) == listed, "a listed workload does not exist"


def config_names(rendering_text: str) -> set[str]:
    return set(re.findall(r"snip-config-[a-z0-9]{10}", rendering_text))


def test_every_snip_workload_names_the_hashed_configuration(renderings):
    for name, rendering in renderings.items():
        (config,) = config_names(rendering.text) or {None}
        assert config, f"{name}: snip-config is not hash-suffixed"
        for w in workloads(rendering.objects):
            for c in containers(pod_template(w)["spec"]):
                refs = [e["configMapRef"]["name"] for e in c.get("envFrom", [])]
                if any(r.startswith("snip-config") for r in refs):
                    assert config in refs, f"{name} {ident(w)}/{c['name']}: {refs}"


def test_a_configuration_change_renders_new_pod_templates(tmp_path: Path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, symlinks=True)
    overlay = copy / "overlays" / "production"
    before = run([tool("kubectl"), "kustomize", str(overlay)])
    config = copy / "core" / "flask-api.yaml"
    config.write_text(
        config.read_text().replace('SNIP_CACHE_TTL_SECONDS: "300"', 'SNIP_CACHE_TTL_SECONDS: "120"')
    )
    after = run([tool("kubectl"), "kustomize", str(overlay)])
    assert before.returncode == after.returncode == 0, after.stderr
    old, new = config_names(before.stdout), config_names(after.stdout)
    assert len(old) == len(new) == 1 and old != new
    # Every reference moved with it: the API, flusher and purge templates changed.
    assert after.stdout.count(next(iter(new))) == before.stdout.count(next(iter(old)))


def test_migrations_run_as_the_init_step_of_the_long_running_snip_workloads(renderings):
    for name, rendering in renderings.items():
        assert not [o for o in rendering.objects if o["kind"] == "Job"], f"{name}: a Job"
        for kind, wname in snip_workloads(rendering):
            if kind != "Deployment":
                continue
            spec = pod_template(rendering.find(kind, wname))["spec"]
            init = {c["name"]: c for c in spec.get("initContainers", [])}
            assert "migrate" in init, f"{name} {kind}/{wname}: no migrate init container"
            assert init["migrate"]["command"][:2] == ["snip", "migrate"]
            assert init["migrate"]["image"] == spec["containers"][0]["image"]
