"""A stand-in kubectl on PATH and a small kustomize tree shaped like snip's k8s/."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.scripts.helpers import run_script

FAKE_KUBECTL = Path(__file__).with_name("fake_kubectl")

MANIFESTS = {
    "kustomization.yaml": """
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [config.yaml, app.yaml, flusher.yaml, postgres.yaml, cluster.yaml, backup.yaml]
""",
    "config.yaml": """
apiVersion: v1
kind: ConfigMap
metadata:
  name: snip-config
  namespace: snip
  annotations: {internal.config.kubernetes.io/needsHashSuffix: enabled}
data: {SNIP_ENV: production}
""",
    "app.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: snip-api, namespace: snip}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: snip}}
  template:
    metadata: {labels: {app.kubernetes.io/name: snip}}
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/snip-project/snip:0.1.0
          command: [snip, migrate]
          envFrom: [{configMapRef: {name: snip-config}}]
      containers:
        - name: api
          image: ghcr.io/snip-project/snip:0.1.0
          envFrom: [{configMapRef: {name: snip-config}}]
""",
    "flusher.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: snip-flusher, namespace: snip}
spec:
  selector: {matchLabels: {app.kubernetes.io/component: flusher}}
  template:
    metadata: {labels: {app.kubernetes.io/component: flusher}}
    spec:
      containers:
        - name: flusher
          image: ghcr.io/snip-project/snip:0.1.0
          envFrom: [{configMapRef: {name: snip-config}}]
""",
    "postgres.yaml": """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: snip-postgres, namespace: snip}
spec:
  serviceName: snip-postgres
  selector: {matchLabels: {app.kubernetes.io/component: postgres}}
  template:
    metadata: {labels: {app.kubernetes.io/component: postgres}}
    spec:
      containers:
        - name: postgres
          image: postgres:15.14-bookworm
""",
    "cluster.yaml": """
apiVersion: v1
kind: Namespace
metadata: {name: snip}
""",
    "backup.yaml": """
apiVersion: batch/v1
kind: CronJob
metadata: {name: snip-backup, namespace: snip}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: backup
              image: ghcr.io/snip-project/snip-ops:0.1.0
""",
}

SECRET_WITH_PLACEHOLDER = """
apiVersion: v1
kind: Secret
metadata: {name: snip-secrets, namespace: snip}
stringData: {DATABASE_URL: "postgresql://snip:CHANGE_ME@snip-postgres:5432/snip"}
"""

# Calls that change a cluster. Anything else the scripts run is read-only.
MUTATING = (
    "delete",
    "apply -f",
    "apply --server-side",
    "annotate",
    "rollout undo",
    "rollout restart",
    "patch",
    "wait",
)


@dataclass
class FakeCluster:
    """Runs scripts with the fake kubectl first on PATH and reads what they did."""

    root: Path
    manifests: Path
    log: Path
    bin: Path
    env: dict[str, str]

    def run(self, script: str, *args: str, **env: str):
        return run_script(script, *args, env={**self.env, **env})

    @property
    def calls(self) -> list[str]:
        """Every kubectl call, namespace flag removed."""
        if not self.log.exists():
            return []
        calls = []
        for line in self.log.read_text().splitlines():
            if line.startswith(("--namespace ", "-n ")):
                line = line.split(" ", 2)[2]
            calls.append(line)
        return calls

    def index(self, prefix: str) -> int:
        """Position of the first call starting with prefix (fails if absent)."""
        for i, call in enumerate(self.calls):
            if call.startswith(prefix):
                return i
        raise AssertionError(
            f"no kubectl call starting with {prefix!r} in:\n" + "\n".join(self.calls)
        )

    def mutating_calls(self) -> list[str]:
        return [c for c in self.calls if c.startswith(MUTATING) and "--dry-run" not in c]

    @property
    def applied(self) -> str:
        path = Path(f"{self.log}.applied")
        return path.read_text() if path.exists() else ""


def make_fake_cluster(tmp_path: Path, *, placeholder_secret: bool = False) -> FakeCluster:
    manifests = tmp_path / "k8s"
    manifests.mkdir(parents=True)
    for name, text in MANIFESTS.items():
        (manifests / name).write_text(text.lstrip())
    if placeholder_secret:
        (manifests / "secret.yaml").write_text(SECRET_WITH_PLACEHOLDER.lstrip())
        kustomization = manifests / "kustomization.yaml"
        kustomization.write_text(
            kustomization.read_text().replace("backup.yaml]", "backup.yaml, secret.yaml]")
        )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("kubectl")
    assert real, "the real kubectl is needed for offline `kubectl kustomize` rendering"
    shutil.copy(FAKE_KUBECTL, bin_dir / "kubectl")
    log = tmp_path / "kubectl.log"
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "FAKE_KUBECTL_LOG": str(log),
        "FAKE_KUBECTL_REAL": real,
        "FAKE_CURRENT_IMAGE": "ghcr.io/snip-project/snip:0.1.0",
        "SNIP_KUSTOMIZE_DIR": str(manifests),
    }
    return FakeCluster(tmp_path, manifests, log, bin_dir, env)
