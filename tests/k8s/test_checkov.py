"""checkov finds no failed Kubernetes check, and every exception is written down.

checkov runs once over every rendering (root, overlays, component combinations),
so what an operator applies is what is scanned. A check may only be skipped by a
`checkov.io/skipN: CKV_K8S_xx=reason` annotation on the object itself, and every
such skip must be listed, with its reason, in docs/kubernetes.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.k8s.conftest import Rendering
from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

DOCS = REPO_ROOT / "docs" / "kubernetes.md"


@pytest.fixture(scope="session")
def checkov_report(renderings: dict[str, Rendering], rendered_dir: Path) -> dict:
    proc = run(
        [
            tool("checkov"),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--compact",
            "-o",
            "json",
            "-d",
            rendered_dir,
        ],
    )
    assert proc.stdout.lstrip().startswith(("{", "[")), (
        f"checkov did not report:\n{proc.stderr[-3000:]}"
    )
    # checkov prints one report (a dict) or a list of them.
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    return report


def test_checkov_reports_no_failed_check(checkov_report: dict) -> None:
    failed = checkov_report["results"]["failed_checks"]
    lines = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} ({Path(f['file_path']).name})"
        for f in failed
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(lines)


def test_checkov_really_ran_the_kubernetes_checks(checkov_report: dict) -> None:
    """An empty folder or a broken parser would also report 0 failed."""
    summary = checkov_report["summary"]
    assert summary["passed"] > 500, summary
    assert summary["resource_count"] >= 40, summary


def skips_in(renderings: dict[str, Rendering]) -> dict[str, set[str]]:
    """{check id: {reasons}} from every checkov.io/skip annotation rendered."""
    found: dict[str, set[str]] = {}
    for r in renderings.values():
        for obj in r.objects:
            for key, value in (obj["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert len(reason.strip()) > 20, (
                        f"{key} on {obj['metadata']['name']}: no reason"
                    )
                    found.setdefault(check.strip(), set()).add(reason.strip())
    return found


def test_every_skip_has_a_reason_and_is_listed_in_the_docs(
    renderings: dict[str, Rendering],
) -> None:
    docs = DOCS.read_text()
    skips = skips_in(renderings)
    assert skips, "no skip found: the parser is broken or the docs list is stale"
    for check in skips:
        assert re.search(rf"\b{check}\b", docs), f"{check} is skipped but not listed in {DOCS.name}"


def test_skips_counted_by_checkov_match_the_annotations(checkov_report: dict) -> None:
    """checkov honoured the annotations (and nothing else was silently skipped)."""
    skipped = {s["check_id"] for s in checkov_report["results"]["skipped_checks"]}
    documented = set(re.findall(r"\bCKV2?_K8S_\d+\b", DOCS.read_text()))
    assert skipped <= documented, f"skipped but undocumented: {sorted(skipped - documented)}"
