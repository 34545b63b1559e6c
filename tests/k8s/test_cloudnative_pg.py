"""The CloudNativePG component, checked offline as far as it can be.

Its custom resources (Cluster, ScheduledBackup, Pooler) have no schema here (the
operator's CRDs are not in this repository), so kubernetes-validate cannot check
them. What these tests check instead, on every rendering that includes the component:
the StatefulSet path is gone, the Cluster has three instances on different nodes
with WAL archived often enough for an RPO of 60 s, its backups go to object storage
with credentials read from the Secret snip-backup-s3, the ScheduledBackup and the
Pooler name that Cluster, monitoring is on, and the Service the application uses
(snip-postgres) leads to the Pooler's pods.
"""

from __future__ import annotations

import re

import pytest

from tests.k8s.conftest import Rendering

NAMES = (
    "k8s+cloudnative-pg",
    "k8s/overlays/local+cloudnative-pg",
    "k8s/overlays/production+cloudnative-pg",
)


@pytest.fixture(params=NAMES)
def rendering(request, renderings: dict[str, Rendering]) -> Rendering:
    return renderings[request.param]


def kinds(rendering: Rendering) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in rendering.objects}


def test_the_statefulset_path_is_replaced(rendering):
    present = kinds(rendering)
    for gone in [
        ("StatefulSet", "snip-postgres"),
        ("Service", "snip-postgres-headless"),
        ("PersistentVolumeClaim", "snip-postgres-data"),
        ("NetworkPolicy", "postgres"),
    ]:
        assert gone not in present, gone
    assert ("Cluster", "snip-db") in present


def test_three_instances_archiving_to_object_storage_with_secret_credentials(rendering):
    cluster = rendering.find("Cluster", "snip-db")["spec"]
    assert cluster["instances"] == 3
    assert cluster["affinity"]["podAntiAffinityType"] == "required"
    timeout = cluster["postgresql"]["parameters"]["archive_timeout"]
    assert int(re.fullmatch(r"(\d+)s", timeout).group(1)) <= 60, "RPO <= 60 s"
    store = cluster["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    for ref in store["s3Credentials"].values():
        assert ref["name"] == "snip-backup-s3", "credentials come from a Secret"
    assert cluster["monitoring"]["enablePodMonitor"] is True
    assert cluster["backup"]["retentionPolicy"]


def test_scheduled_backup_and_pooler_point_at_the_cluster(rendering):
    scheduled = rendering.find("ScheduledBackup", "snip-db-daily")["spec"]
    assert scheduled["cluster"]["name"] == "snip-db"
    assert len(scheduled["schedule"].split()) == 6, "CloudNativePG's cron has seconds"
    pooler = rendering.find("Pooler", "snip-db-pooler-rw")
    assert pooler["spec"]["cluster"]["name"] == "snip-db"
    assert pooler["spec"]["type"] == "rw"
    assert pooler["spec"]["monitoring"]["enablePodMonitor"] is True


def test_the_application_service_leads_to_the_pooler(rendering):
    service = rendering.find("Service", "snip-postgres")["spec"]
    assert service["selector"] == {"cnpg.io/poolerName": "snip-db-pooler-rw"}
    assert service["ports"][0]["port"] == 5432
