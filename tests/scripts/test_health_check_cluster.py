"""health-check.sh --cluster against the stand-in kubectl's canned cluster state.

Proves each cluster signal maps to the right verdict: all fine = healthy (0); fewer
ready replicas, many restarts, HPA at max, an unbound claim = degraded (1); no ready
replica or no Service endpoint = down (2). And that it only ever reads.
"""

from __future__ import annotations

import json

import pytest

from tests.scripts.helpers import explain
from tests.scripts.kube_fixtures import make_fake_cluster


@pytest.mark.parametrize(
    ("state", "code", "failing_check"),
    [
        ({}, 0, None),
        ({"FAKE_REPLICAS": "3 2"}, 1, "deployment"),
        ({"FAKE_RESTARTS": "9"}, 1, "restarts"),
        ({"FAKE_HPA_CURRENT": "10"}, 1, "hpa/snip-api"),
        ({"FAKE_PVC_PHASE": "Pending"}, 1, "pvc/snip-backups"),
        ({"FAKE_REPLICAS": "2"}, 2, "deployment"),  # readyReplicas absent = 0 ready
        ({"FAKE_ENDPOINTS": ""}, 2, "endpoints"),
    ],
)
def test_cluster_verdicts(tmp_path, state, code, failing_check):
    cluster = make_fake_cluster(tmp_path)
    result = cluster.run("health-check.sh", "--cluster", "--json", **state)
    assert result.returncode == code, explain(result)
    report = json.loads(result.stdout)
    bad = [c["name"] for c in report["checks"] if c["status"] != "ok"]
    assert bad == ([failing_check] if failing_check else []), report
    assert cluster.mutating_calls() == []
