"""Every rendering is valid Kubernetes, strictly, for the oldest and newest versions we support.

kubernetes-validate checks each object against the OpenAPI schema of a given
Kubernetes release; --strict also rejects fields the schema does not know (a typo
such as `replicaz` that `kubectl apply` would otherwise drop or refuse). Objects
of custom resources (no schema shipped) only produce a warning and are not
proven here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.k8s.conftest import Rendering
from tests.support.tools import run, tool

# 1.30: the oldest release we support (preStop `sleep` is on by default from 1.30).
OLDEST = "1.30.0"


def newest_version() -> str:
    """The newest Kubernetes version the installed kubernetes-validate ships (its default)."""
    proc = run([tool("kubernetes-validate"), "--help"])
    found = re.search(r"Defaults\s+to\s+(\d+\.\d+\.\d+)", proc.stdout)
    assert found, f"cannot read the default version from:\n{proc.stdout}"
    return found.group(1)


VERSIONS = [OLDEST, "newest"]


@pytest.mark.parametrize("version", VERSIONS)
def test_renderings_validate_strictly(
    version: str, renderings: dict[str, Rendering], rendered_dir: Path
) -> None:
    version = newest_version() if version == "newest" else version
    files = sorted(str(r.file) for r in renderings.values())
    proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *files])
    assert proc.returncode == 0, f"Kubernetes {version}:\n{proc.stdout}{proc.stderr}"


def test_newest_is_newer_than_oldest() -> None:
    """Two different versions are checked, not the same one twice."""
    newest = tuple(int(x) for x in newest_version().split("."))
    assert newest > tuple(int(x) for x in OLDEST.split("."))


def test_the_validator_rejects_an_unknown_field(tmp_path: Path) -> None:
    """A typo in a field must fail validation: the check above can fail."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: snip}\n"
        "spec:\n  replicaz: 2\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n"
        "    spec: {containers: [{name: c, image: 'x:1'}]}\n"
    )
    proc = run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", OLDEST, bad])
    assert proc.returncode != 0 and "replicaz" in proc.stdout + proc.stderr
