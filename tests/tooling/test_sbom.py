"""`make sbom` describes exactly what production runs, with licences.

Runs the real target (cyclonedx-py and pip-licenses against an environment installed
from requirements/runtime.lock) into a temporary folder. Proves: the SBOM is CycloneDX
JSON naming snip as the application; its components are exactly the packages of the
runtime lock (same versions, no development tool); Flask carries its BSD-3-Clause
licence in both reports; no runtime dependency is under a strong copyleft licence.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.support.servers import REPO_ROOT

# A package of ours under these would oblige us to publish snip's source with it.
STRONG_COPYLEFT = re.compile(r"(?<!L)(?<!Lesser )(GPL|General Public License)|AGPL|SSPL", re.I)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sbom")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "sbom", f"SBOM_DIR={out}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (out / "runtime-env").exists(), "the scratch environment is left behind"
    return out


def runtime_lock_for_this_python() -> dict[str, str]:
    """{name: version} that runtime.lock installs here (markers evaluated)."""
    found = {}
    for line in (REPO_ROOT / "requirements" / "runtime.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)(?: ; ([^\\]+))? \\$", line)
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


@pytest.mark.slow
def test_sbom_lists_exactly_the_locked_runtime_packages(reports: Path) -> None:
    bom = json.loads((reports / "snip-runtime.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["name"] == "snip"
    assert bom["metadata"]["component"]["type"] == "application"
    components = {canonicalize_name(c["name"]): c for c in bom["components"]}
    assert {n: c["version"] for n, c in components.items()} == runtime_lock_for_this_python()
    flask = components["flask"]
    assert flask["purl"] == f"pkg:pypi/flask@{flask['version']}"
    assert {entry["license"].get("id") for entry in flask["licenses"]} == {"BSD-3-Clause"}
    assert "pytest" not in components and "mypy" not in components


@pytest.mark.slow
def test_licence_report_names_each_package_and_finds_no_strong_copyleft(reports: Path) -> None:
    table = (reports / "licenses.md").read_text()
    assert re.search(r"^\| Flask\s+\| [\d.]+\s+\| BSD-3-Clause", table, re.M), table
    rows = json.loads((reports / "licenses.json").read_text())
    names = {canonicalize_name(r["Name"]) for r in rows}
    assert names == set(runtime_lock_for_this_python())
    unknown = [r["Name"] for r in rows if r["License"] in ("", "UNKNOWN")]
    assert unknown == [], f"no licence found for {unknown}"
    copyleft = [(r["Name"], r["License"]) for r in rows if STRONG_COPYLEFT.search(r["License"])]
    assert copyleft == [], f"strong copyleft in the runtime tree: {copyleft}"


def test_copyleft_pattern_tells_lgpl_from_gpl() -> None:
    """psycopg is LGPL-3.0 (allowed: it is linked, not modified); GPL and AGPL are not."""
    assert not STRONG_COPYLEFT.search("LGPL-3.0-only")
    assert not STRONG_COPYLEFT.search("GNU Lesser General Public License v3 (LGPLv3)")
    assert STRONG_COPYLEFT.search("GPL-3.0-or-later")
    assert STRONG_COPYLEFT.search("GNU Affero General Public License v3")
    assert STRONG_COPYLEFT.search("GNU General Public License v2 (GPLv2)")
