"""deploy.sh against a stand-in kubectl that records its calls (no cluster here).

Proves the order migration -> apply -> rollout status -> health check; that a failed
migration stops before the Deployment is touched; that a failed rollout or a down
health check is rolled back with --auto-rollback; that placeholder secrets, 'latest'
and an unconfirmed context are refused; and that --dry-run changes nothing.
"""

from __future__ import annotations

import pytest

from tests.scripts.helpers import explain
from tests.scripts.kube_fixtures import make_fake_cluster
from tests.support.servers import REPO_ROOT

DEPLOY = "deployment/deploy.sh"


@pytest.fixture
def cluster(tmp_path):
    return make_fake_cluster(tmp_path)


def test_release_runs_migration_then_apply_then_rollout_then_health(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes")
    assert result.returncode == 0, explain(result)

    order = [
        cluster.index("delete job snip-migrate"),
        cluster.index("wait --for=condition=complete job/snip-migrate"),
        cluster.index("annotate deployment/snip-api kubernetes.io/change-cause=deploy 0.2.0"),
        cluster.index("rollout status deployment/snip-api"),
        cluster.index("get endpoints/snip-api"),  # the health check, after the rollout
    ]
    assert order == sorted(order), "\n".join(cluster.calls)
    applies = [i for i, c in enumerate(cluster.calls) if c.startswith("apply -f")]
    assert len(applies) == 2, "migration Job alone first, then everything"
    assert order[0] < applies[0] < order[1] < applies[1] < order[3]

    # What was applied: the new tag on both images of the release, nothing else retagged.
    migration_apply, full_apply = cluster.applied.split("--- # ")[1:3]
    assert "kind: Job" in migration_apply and "kind: Deployment" not in migration_apply
    assert "ghcr.io/snip-project/snip:0.2.0" in migration_apply
    assert full_apply.count("ghcr.io/snip-project/snip:0.2.0") == 1  # the Deployment
    # The Job is never re-applied with the rest: its pod template is immutable, so applying
    # it again would fail whenever the previous release's Job still exists.
    assert "kind: Job" not in full_apply and "kind: CronJob" in full_apply
    assert "ghcr.io/snip-project/snip:0.1.0" not in cluster.applied
    assert "ghcr.io/snip-project/snip-ops:0.2.0" in full_apply
    assert "0.1.0" not in full_apply


def test_other_images_keep_their_tags(cluster):
    (cluster.manifests / "app.yaml").write_text(
        (cluster.manifests / "app.yaml").read_text()
        + "        - name: sidecar\n          image: ghcr.io/snip-project/snip-other:9.9\n"
    )
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", SNIP_OPS_IMAGE="")
    assert result.returncode == 0, explain(result)
    assert "ghcr.io/snip-project/snip-other:9.9" in cluster.applied
    assert "ghcr.io/snip-project/snip-ops:0.1.0" in cluster.applied  # SNIP_OPS_IMAGE="" = keep


def test_failed_migration_never_touches_the_deployment(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", FAKE_KUBECTL_FAIL="wait")
    assert result.returncode == 5, explain(result)
    assert "was NOT changed" in result.stderr
    assert cluster.index("logs job/snip-migrate")  # the operator sees why
    touched = [c for c in cluster.mutating_calls() if "deployment" in c or c.startswith("apply")]
    # Only the migration Job was applied; nothing addressed the Deployment.
    assert len([c for c in touched if c.startswith("apply -f")]) == 1
    assert not [c for c in touched if "deployment/snip-api" in c]
    assert "kind: Deployment" not in cluster.applied


def test_failed_rollout_is_rolled_back_automatically(cluster):
    result = cluster.run(
        DEPLOY, "--tag", "0.2.0", "--yes", "--auto-rollback", FAKE_KUBECTL_FAIL="rollout status"
    )
    assert result.returncode == 6, explain(result)
    assert cluster.index("rollout undo deployment/snip-api") > cluster.index("rollout status")


def test_failed_rollout_without_auto_rollback_says_how_to_undo(cluster):
    result = cluster.run(DEPLOY, "--tag", "0.2.0", "--yes", FAKE_KUBECTL_FAIL="rollout status")
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
    assert "[dry-run] would run job/snip-migrate" in result.stderr


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


def test_the_repository_base_is_refused_for_its_placeholders_but_otherwise_deployable(tmp_path):
    """Against the real k8s/ tree: its base ships CHANGE_ME Secrets (on purpose), so a
    plain deploy is refused; allowing them, the tree renders, holds the migration Job
    and passes through the whole dry run."""
    cluster = make_fake_cluster(tmp_path)
    env = {"SNIP_KUSTOMIZE_DIR": str(REPO_ROOT / "k8s")}
    refused = cluster.run(DEPLOY, "--tag", "0.2.0", "--dry-run", **env)
    assert refused.returncode == 4, explain(refused)
    allowed = cluster.run(
        DEPLOY, "--tag", "0.2.0", "--dry-run", "--allow-placeholder-secrets", **env
    )
    assert allowed.returncode == 0, explain(allowed)
    assert cluster.mutating_calls() == []
