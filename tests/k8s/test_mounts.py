"""Every container can read every Secret and ConfigMap file it mounts.

Kubernetes writes a secret/configMap/projected volume's files owned by root, group
root or, when the pod sets fsGroup, group fsGroup, with the item's `mode` or the
volume's `defaultMode` (0644 when unset). A process runs as runAsUser with the groups
runAsGroup, fsGroup and supplementalGroups. The defect this catches: the
postgres-exporter mounted its password 0440 root:root with no fsGroup while running as
uid 10013, so it crash-looped and PostgreSQL alerting was blind.
tests/monitoring/test_exporter_permissions.py starts the real exporter binaries the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.k8s.conftest import Rendering, containers, ident, pod_template, workloads

DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class MountedFile:
    where: str  # rendering workload/container: path
    mode: int
    gid: int  # the file's group (root: 0, or the pod's fsGroup)
    uid: int  # the process
    groups: frozenset[int]  # the process' groups


def readable(f: MountedFile) -> bool:
    if f.uid == 0:
        return True
    if f.gid in f.groups:
        return bool(f.mode & 0o040)
    return bool(f.mode & 0o004)


def volume_files(volume: dict) -> list[tuple[str, int]]:
    """(key or path, mode) of each file a secret/configMap/projected volume writes."""
    for kind in ("secret", "configMap"):
        if kind in volume:
            src = volume[kind]
            default = src.get("defaultMode", DEFAULT_MODE)
            items = src.get("items") or [{"key": "*", "path": "*"}]
            return [(i["path"], i.get("mode", default)) for i in items]
    if "projected" in volume:
        default = volume["projected"].get("defaultMode", DEFAULT_MODE)
        out = []
        for source in volume["projected"].get("sources", []):
            for kind in ("secret", "configMap"):
                if kind in source:
                    items = source[kind].get("items") or [{"path": "*"}]
                    out += [(i["path"], i.get("mode", default)) for i in items]
        return out
    return []


def mounted_files(rendering: Rendering) -> list[MountedFile]:
    files = []
    for w in workloads(rendering.objects):
        spec = pod_template(w)["spec"]
        pod_sc = spec.get("securityContext") or {}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        fs_group = pod_sc.get("fsGroup")
        for c in containers(spec):
            sc = c.get("securityContext") or {}
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
            assert uid is not None, f"{rendering.name} {ident(w)}/{c['name']}: no runAsUser"
            groups = {g for g in (gid, fs_group) if g is not None}
            groups |= set(pod_sc.get("supplementalGroups", []))
            for m in c.get("volumeMounts", []):
                for path, mode in volume_files(volumes[m["name"]]):
                    files.append(
                        MountedFile(
                            f"{rendering.name} {ident(w)}/{c['name']}: {m['mountPath']}/{path}",
                            mode,
                            fs_group if fs_group is not None else 0,
                            uid,
                            frozenset(groups),
                        )
                    )
    return files


def test_every_mounted_secret_and_config_file_is_readable(renderings):
    files = [f for r in renderings.values() for f in mounted_files(r)]
    assert len(files) > 10, "the check found almost no mounted file: is it looking?"
    unreadable = [
        f"{f.where} (mode {f.mode:o}, group {f.gid}, uid {f.uid}, groups {sorted(f.groups)})"
        for f in files
        if not readable(f)
    ]
    assert unreadable == [], "\n".join(unreadable)


def test_the_check_catches_the_exporter_defect():
    """0440 root:root, no fsGroup, uid 10013: what the postgres-exporter had."""
    broken = MountedFile("exporter", 0o440, 0, 10013, frozenset({10013}))
    fixed = MountedFile("exporter", 0o440, 10013, 10013, frozenset({10013}))
    assert not readable(broken) and readable(fixed)
