"""deploy.sh against a stand-in kubectl that records its calls (no cluster here).

Proves the order: configuration and database applied first, PostgreSQL waited for, then
the snip workloads, every rollout, the health check; that a database that never gets
ready stops before any snip workload is touched; that a failed rollout or a down health
check is rolled back (every snip workload) with --auto-rollback; that cluster-scoped
objects are never applied and Secrets only server-side; that placeholder secrets,
'latest' and an unconfirmed context are refused; and that --dry-run changes nothing.
"""

from __future__ import annotations

import re

import pytest

from tests.scripts.helpers import explain
from tests.scripts.kube_fixtures import make_fake_cluster
from tests.support.servers import REPO_ROOT

DEPLOY = "deployment/deploy.sh"


@pytest.fixture
def cluster(tmp_path):
    return make_fake_cluster(tmp_path)


def applied_documents(cluster) -> list[str]:
    """What each real `apply -f` carried, in order."""
    return cluster.applied.split("--- # ")[1:]


def test_release_applies_infrastructure_waits_for_postgres_then_rolls_out(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert result.returncode == 0, explain(result)

    order = [
        cluster.index("apply --dry-run=server"),
        cluster.index("rollout status statefulset/snip-postgres"),
        cluster.index("annotate deployment/snip-api kubernetes.io/change-cause=deploy 0.2.0"),
        cluster.index("rollout status deployment/snip-api"),
        cluster.index("rollout status deployment/snip-flusher"),
        cluster.index("get endpoints/snip-api"),  # the health check, after the rollouts
    ]
    assert order == sorted(order), "\n".join(cluster.calls)
    applies = [i for i, c in enumerate(cluster.calls) if c.startswith("apply -f")]
    assert len(applies) == 2, "infrastructure first, then the snip workloads"
    assert order[0] < applies[0] < order[1] < order[2] < applies[1] < order[3]

    infra, workloads = applied_documents(cluster)
    # The database and the configuration come first, without any snip workload.
    assert "kind: StatefulSet" in infra and "kind: ConfigMap" in infra
    assert "ghcr.io/snip-project/snip" not in infra
    # Then every workload running a snip image, with the new tag on both images.
    assert workloads.count("kind: Deployment") == 2 and "kind: CronJob" in workloads
    assert "ghcr.io/snip-project/snip:0.2.0" in workloads
    assert "ghcr.io/snip-project/snip-ops:0.2.0" in workloads
    assert "0.1.0" not in cluster.applied
    # Cluster-scoped objects are left to a cluster admin: the deployer's Role is namespaced.
    assert "kind: Namespace" not in cluster.applied
    assert "Namespace/snip" in result.stderr


def test_the_migration_runs_in_the_new_pods_not_in_a_job(cluster):
    """No Job at all: nothing immutable to delete and re-create at the next release."""
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert result.returncode == 0, explain(result)
    assert not [c for c in cluster.calls if " job" in c or "job/" in c]
    _, workloads = applied_documents(cluster)
    init = re.search(r"initContainers:\n(.*?)\n      containers:", workloads, re.S)
    assert init and "ghcr.io/snip-project/snip:0.2.0" in init.group(1)


def test_config_changes_travel_under_a_new_name(cluster):
    """The ConfigMap is hash-suffixed and the workloads name that suffix: a changed
    configuration is a new pod template (the pods roll) and the old one stays for undo."""
    first = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert first.returncode == 0, explain(first)
    names = set(re.findall(r"snip-config-[a-z0-9]+", cluster.applied))
    config = cluster.manifests / "config.yaml"
    config.write_text(config.read_text().replace("production", "production2"))
    second = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert second.returncode == 0, explain(second)
    assert len(names) == 1
    assert len(set(re.findall(r"snip-config-[a-z0-9]+", cluster.applied))) == 2


def test_postgres_never_ready_leaves_the_snip_workloads_alone(cluster):
    result = cluster.run(
        DEPLOY, "--tag", "0.2.0", "--yes", FAKE_KUBECTL_FAIL="rollout status statefulset"
    )
    assert result.returncode == 5, explain(result)
    assert "no snip workload was changed" in result.stderr
    assert "ghcr.io/snip-project/snip" not in cluster.applied
    assert not [c for c in cluster.mutating_calls() if "deployment/" in c]


def test_a_managed_database_is_not_waited_for(cluster):
    (cluster.manifests / "postgres.yaml").write_text("")
    kustomization = cluster.manifests / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(" postgres.yaml,", ""))
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert result.returncode == 0, explain(result)
    assert not [c for c in cluster.calls if "statefulset" in c]


def test_secrets_are_applied_server_side_only(tmp_path):
    """Client-side apply keeps the whole object, values included, in plain text in the
    last-applied-configuration annotation."""
    cluster = make_fake_cluster(tmp_path, placeholder_secret=True)
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", "--allow-placeholder-secrets")
    assert result.returncode == 0, explain(result)
    secret_applies = [c for c in cluster.mutating_calls() if c.startswith("apply --server-side")]
    assert len(secret_applies) == 1
    carriers = [d for d in applied_documents(cluster) if "kind: Secret" in d]
    assert len(carriers) == 1 and "apply --server-side" in carriers[0].splitlines()[0]


def test_other_images_keep_their_tags(cluster):
    (cluster.manifests / "app.yaml").write_text(
        (cluster.manifests / "app.yaml").read_text()
        + "        - name: sidecar\n          image: ghcr.io/snip-project/snip-other:9.9\n"
    )
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", SNIP_OPS_IMAGE="")
    assert result.returncode == 0, explain(result)
    assert "ghcr.io/snip-project/snip-other:9.9" in cluster.applied
    assert "ghcr.io/snip-project/snip-ops:0.1.0" in cluster.applied  # SNIP_OPS_IMAGE="" = keep


def test_failed_rollout_shows_the_migration_logs(cluster):
    result = cluster.run(
        DEPLOY, "--tag", "0.2.0", "--yes", FAKE_KUBECTL_FAIL="rollout status deployment"
    )
    assert result.returncode == 6, explain(result)
    assert cluster.index("logs -l app.kubernetes.io/name=snip -c migrate")


def test_failed_rollout_is_rolled_back_automatically(cluster):
    result = cluster.run(
        DEPLOY,
        "--tag",
        "0.2.0",
        "--yes",
        "--auto-rollback",
        FAKE_KUBECTL_FAIL="rollout status deployment",
    )
    assert result.returncode == 6, explain(result)
    undo = cluster.index("rollout undo deployment/snip-api")
    assert undo > cluster.index("rollout status deployment")
    # Every snip workload goes back, not only the API.
    assert cluster.index("rollout undo deployment/snip-flusher") > undo
    assert cluster.index("patch cronjob/snip-backup") > undo


def test_failed_rollout_without_auto_rollback_says_how_to_undo(cluster):
    result = cluster.run(
        DEPLOY, "--tag", "0.2.0", "--yes", FAKE_KUBECTL_FAIL="rollout status deployment"
    )
    assert result.returncode == 6, explain(result)
    assert "rollback.sh" in result.stderr
    assert not [c for c in cluster.calls if c.startswith("rollout undo")]


def test_down_after_rollout_is_rolled_back(cluster):
    # No endpoints behind the Service: the health check says down.
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", "--auto-rollback", FAKE_ENDPOINTS="")
    assert result.returncode == 7, explain(result)
    assert cluster.index("rollout undo deployment/snip-api") > cluster.index("get endpoints")


def test_degraded_after_rollout_is_a_warning_not_a_failure(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", FAKE_PVC_PHASE="Pending")
    assert result.returncode == 0, explain(result)
    assert "DEGRADED" in result.stderr


def test_dry_run_changes_nothing(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--dry-run")
    assert result.returncode == 0, explain(result)
    assert cluster.mutating_calls() == []
    assert cluster.index("apply --dry-run=server")  # but the manifests were validated
    assert "[dry-run] would wait for statefulset/snip-postgres" in result.stderr


def test_placeholder_secrets_are_refused(tmp_path):
    cluster = make_fake_cluster(tmp_path, placeholder_secret=True)
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert result.returncode == 4, explain(result)
    assert "CHANGE_ME" in result.stderr
    assert cluster.mutating_calls() == []

    allowed = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", "--allow-placeholder-secrets")
    assert allowed.returncode == 0, explain(allowed)


def test_unconfirmed_context_changes_nothing(cluster):
    # No --yes and no terminal: the script must refuse rather than assume.
    result = cluster.run(DEPLOY, "--tag", "0.2.0")
    assert result.returncode == 1, explain(result)
    assert "fake-context" in result.stderr
    assert cluster.mutating_calls() == []


def test_no_kube_context_is_a_preflight_failure(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", FAKE_CONTEXT="")
    assert result.returncode == 69, explain(result)
    assert cluster.mutating_calls() == []


@pytest.mark.parametrize("args", [[], ["--tag", "latest"], ["--tag", "bad tag"], ["--bogus"]])
def test_bad_command_lines(cluster, args):
    result = cluster.run(DEPLOY, *args, "--yes")
    assert result.returncode == 64, explain(result)
    assert cluster.mutating_calls() == []


def test_the_repository_tree_passes_the_whole_dry_run(tmp_path):
    """Against the real k8s/ tree: it renders with no placeholder Secret (the template is
    not in any kustomization), holds the snip workloads and passes the whole dry run."""
    cluster = make_fake_cluster(tmp_path)
    env = {"SNIP_KUSTOMIZE_DIR": str(REPO_ROOT / "k8s")}
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--dry-run", **env)
    assert result.returncode == 0, explain(result)
    assert "CHANGE_ME" not in result.stderr
    assert cluster.mutating_calls() == []
