"""ops-pod.sh against the recording stand-in kubectl.

Proves the pod it starts is the backup CronJob's twin (same image, labels that the
NetworkPolicies already allow to reach PostgreSQL, the backups claim, credentials from
the Secret by reference, Pod Security "restricted" fields), that it waits for the pod,
and that --dry-run and stop behave.
"""

from __future__ import annotations

import pytest

from tests.scripts.helpers import explain
from tests.scripts.kube_fixtures import make_fake_cluster


@pytest.fixture
def cluster(tmp_path):
    return make_fake_cluster(tmp_path)


def test_start_creates_the_backup_twin_and_waits(cluster):
    result = cluster.run("backup/ops-pod.sh", "start", "--yes")
    assert result.returncode == 0, explain(result)
    pod = cluster.applied
    for expected in (
        "image: ghcr.io/snip-project/snip-ops:0.1.0",
        "app.kubernetes.io/component: backup",
        "emptyDir: {sizeLimit: 20Gi}",  # scratch only: backups live in object storage
        "secretKeyRef: {name: snip-secrets, key: POSTGRES_PASSWORD}",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        'drop: ["ALL"]',
        "seccompProfile: {type: RuntimeDefault}",
    ):
        assert expected in pod, expected
    assert cluster.index("wait --for=condition=Ready pod/snip-ops") > cluster.index("apply -f -")


def test_dry_run_prints_the_pod_and_changes_nothing(cluster):
    result = cluster.run("backup/ops-pod.sh", "start", "--dry-run", "--image", "example/ops:1")
    assert result.returncode == 0, explain(result)
    assert "image: example/ops:1" in result.stdout
    assert cluster.mutating_calls() == []


def test_stop_deletes_the_pod(cluster):
    result = cluster.run("backup/ops-pod.sh", "stop")
    assert result.returncode == 0, explain(result)
    assert "delete pod snip-ops --ignore-not-found" in cluster.calls
