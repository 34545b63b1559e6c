"""Rendered manifests for the k8s/ checks, built once per test session.

Every check in this folder reads the same renderings of the kustomize tree: the
root (`kubectl kustomize k8s`), each overlay, and each overlay or root combined
with each component (`k8s/components/*`). They are also written to a temporary
folder so checkov and kubernetes-validate can scan them in one run each.

YAML is parsed by the interpreter that runs yamllint (PyYAML is its dependency),
because the application's virtualenv does not carry PyYAML.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

K8S = REPO_ROOT / "k8s"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
COMPONENTS = sorted(p.parent for p in (K8S / "components").glob("*/kustomization.yaml"))

# The concern folders of k8s/ (docs/kubernetes.md), in the root kustomization's order.
PLANNED_FOLDERS = [
    "core",
    "storage",
    "security",
    "database",
    "cache",
    "networking",
    "deployment-strategy",
    "maintenance",
    "monitoring",
]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def yaml_python() -> str:
    """An interpreter that can import yaml: the one yamllint runs with."""
    script = Path(tool("yamllint"))
    first = script.read_text(errors="replace").splitlines()[0]
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[-1] if "env" in first else first[2:].strip()
    return str(script.parent / "python")


_PARSE = (
    "import json, sys, yaml\n"
    "out = {}\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path) as fh:\n"
    "        out[path] = [d for d in yaml.safe_load_all(fh) if d is not None]\n"
    "print(json.dumps(out))\n"
)


def load_yaml_files(paths: list[Path | str]) -> dict[str, list[dict]]:
    """Parse YAML files (all documents) into {path: [object, ...]}."""
    if not paths:
        return {}
    proc = run([yaml_python(), "-c", _PARSE, *[str(p) for p in paths]])
    assert proc.returncode == 0, f"could not parse YAML:\n{proc.stderr}"
    return json.loads(proc.stdout)


@dataclass
class Rendering:
    """One kustomize build: its name, YAML text, file on disk and parsed objects."""

    name: str
    text: str
    file: Path
    objects: list[dict]

    def find(self, kind: str, name: str) -> dict:
        """The object kind/name; a ConfigMap also under its kustomize hash suffix."""
        hashed = re.compile(re.escape(name) + r"-[a-z0-9]{10}")
        for obj in self.objects:
            found = obj["metadata"]["name"]
            if obj["kind"] == kind and (
                found == name or (kind == "ConfigMap" and hashed.fullmatch(found))
            ):
                return obj
        raise AssertionError(f"{self.name}: no {kind}/{name} rendered")


def own_components(kustomization_dir: Path) -> set[str]:
    """Names of the components a kustomization already includes."""
    kfile = kustomization_dir / "kustomization.yaml"
    (doc,) = load_yaml_files([kfile])[str(kfile)]
    return {Path(c).name for c in doc.get("components") or []}


def variants(tmp: Path) -> dict[str, Path]:
    """Every kustomization to build: root, overlays, and each with each component.

    A combination gets a small kustomization in ``tmp`` that points back into k8s/.
    """
    out: dict[str, Path] = {"k8s": K8S}
    out.update({rel(o): o for o in OVERLAYS})
    # The cluster-scoped part (k8s/cluster, applied by an admin) on top of the stack.
    both = tmp / "k8s__cluster"
    both.mkdir(parents=True)
    (both / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        f"  - {os.path.relpath(K8S, both)}\n  - {os.path.relpath(K8S / 'cluster', both)}\n"
    )
    out["k8s+cluster"] = both
    for base in [K8S, *OVERLAYS]:
        for comp in COMPONENTS:
            if comp.name in own_components(base):
                continue
            name = f"{rel(base)}+{comp.name}"
            d = tmp / name.replace("/", "_").replace("+", "__")
            d.mkdir(parents=True)
            (d / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                "kind: Kustomization\n"
                f"resources:\n  - {os.path.relpath(base, d)}\n"
                f"components:\n  - {os.path.relpath(comp, d)}\n"
            )
            out[name] = d
    return out


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rendered")


@pytest.fixture(scope="session")
def renderings(
    tmp_path_factory: pytest.TempPathFactory, rendered_dir: Path
) -> dict[str, Rendering]:
    """Every variant rendered; a build failure fails every test that uses them."""
    combos = tmp_path_factory.mktemp("combos")
    texts: dict[str, tuple[str, Path]] = {}
    failures = []
    for name, path in variants(combos).items():
        proc = run([tool("kubectl"), "kustomize", str(path)])
        if proc.returncode != 0:
            failures.append(f"{name}: {proc.stderr.strip()[:2000]}")
            continue
        out = rendered_dir / (name.replace("/", "_").replace("+", "__") + ".yaml")
        out.write_text(proc.stdout)
        texts[name] = (proc.stdout, out)
    assert not failures, "kustomize builds failed:\n" + "\n".join(failures)
    parsed = load_yaml_files([f for _, f in texts.values()])
    return {
        name: Rendering(name, text, file, parsed[str(file)]) for name, (text, file) in texts.items()
    }


@pytest.fixture(scope="session")
def root(renderings: dict[str, Rendering]) -> Rendering:
    return renderings["k8s"]


# ------------------------------------------------------------- pod helpers


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


def pod_template(obj: dict) -> dict:
    """The pod template ({"metadata", "spec"}) of a workload object."""
    kind = obj["kind"]
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o.get("kind") in WORKLOAD_KINDS]


def containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def ident(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
