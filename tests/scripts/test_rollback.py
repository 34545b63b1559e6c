"""rollback.sh against the recording stand-in kubectl.

Proves: the history is shown first; undo goes to the previous or the chosen revision,
for every workload running a snip image and its configuration;
the script waits for the rollout and health-checks afterwards; --dry-run and a refused
confirmation change nothing; a failed rollout back is reported with its own exit code.
"""

from __future__ import annotations

import pytest

from tests.scripts.helpers import explain
from tests.scripts.kube_fixtures import make_fake_cluster

ROLLBACK = "deployment/rollback.sh"


@pytest.fixture
def cluster(tmp_path):
    return make_fake_cluster(tmp_path)


def test_rollback_to_previous_shows_history_waits_and_checks(cluster):
    result = cluster.run(ROLLBACK, "--yes")
    assert result.returncode == 0, explain(result)
    assert "deploy 0.1.0" in result.stderr  # the history was shown to the operator
    order = [
        cluster.index("rollout history deployment/snip-api"),
        cluster.index("rollout undo deployment/snip-api"),
        cluster.index("rollout status deployment/snip-api"),
        cluster.index("get endpoints/snip-api"),
    ]
    assert order == sorted(order), "\n".join(cluster.calls)
    undo = cluster.calls[order[1]]
    assert "--to-revision" not in undo


def test_rollback_takes_every_snip_workload_and_its_configuration_back(cluster):
    """The defect: only snip-api went back; the flusher, the CronJobs and the
    configuration stayed on the new release."""
    result = cluster.run(ROLLBACK, "--yes", FAKE_CURRENT_IMAGE="ghcr.io/snip-project/snip:0.1.0")
    assert result.returncode == 0, explain(result)
    assert cluster.index("rollout undo deployment/snip-flusher")
    assert cluster.index("rollout status deployment/snip-flusher")
    purge = cluster.calls[cluster.index("patch cronjob/snip-purge-expired")]
    # The CronJob follows the API: its image tag and its (hash-named) configuration.
    assert '"value":"ghcr.io/snip-project/snip:0.1.0"' in purge
    assert '"value":"snip-config-previous"' in purge
    backup = cluster.calls[cluster.index("patch cronjob/snip-backup")]
    assert '"value":"ghcr.io/snip-project/snip-ops:0.1.0"' in backup
    assert "configMapRef" not in backup  # it reads no snip-config


def test_rollback_to_a_chosen_revision(cluster):
    result = cluster.run(ROLLBACK, "--to-revision", "4", "--yes")
    assert result.returncode == 0, explain(result)
    assert "rollout undo deployment/snip-api --to-revision=4" in cluster.calls
    # The others follow the API's image and configuration (their revision numbers differ).
    flusher = cluster.calls[cluster.index("patch deployment/snip-flusher")]
    assert "initContainers/0/image" in flusher and "snip-config-previous" in flusher


def test_rollback_to_the_running_revision_is_refused(cluster):
    result = cluster.run(ROLLBACK, "--to-revision", "5", "--yes", FAKE_REVISION="5")
    assert result.returncode == 1, explain(result)
    assert cluster.mutating_calls() == []


def test_dry_run_changes_nothing(cluster):
    result = cluster.run(ROLLBACK, "--dry-run")
    assert result.returncode == 0, explain(result)
    assert "rollout undo deployment/snip-api --dry-run=server" in cluster.calls
    assert "rollout undo deployment/snip-flusher --dry-run=server" in cluster.calls
    assert [c for c in cluster.mutating_calls() if "--dry-run" not in c] == []


def test_unconfirmed_rollback_changes_nothing(cluster):
    result = cluster.run(ROLLBACK)  # no --yes, no terminal
    assert result.returncode == 1, explain(result)
    assert cluster.mutating_calls() == []


def test_rollout_that_does_not_finish_is_reported(cluster):
    result = cluster.run(ROLLBACK, "--yes", FAKE_KUBECTL_FAIL="rollout status")
    assert result.returncode == 6, explain(result)


def test_down_after_rollback_points_away_from_the_release(cluster):
    result = cluster.run(ROLLBACK, "--yes", FAKE_ENDPOINTS="")
    assert result.returncode == 7, explain(result)
    assert "the problem is not the release" in result.stderr


def test_history_only(cluster):
    result = cluster.run(ROLLBACK, "--history")
    assert result.returncode == 0, explain(result)
    assert cluster.mutating_calls() == []
