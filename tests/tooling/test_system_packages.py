"""scripts/check-system-packages.sh and `make test`'s first step, run for real.

The script is run as `make test` runs it, with stand-ins for the three programs that
would change or depend on the machine: ``dpkg-query`` (answers from a list of
"installed" packages), ``id`` (root or not) and ``apt-get`` (records its arguments and
environment instead of installing). Everything else is the real script and the real
requirements/debian.txt. Proves: a missing package is named with the exact command to
install it and nothing runs when not root; as root, apt-get update runs once, then one
noninteractive install of exactly the missing packages; a complete machine changes
nothing; a missing kubectl stops with where to get it; `make test` stops before pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "check-system-packages.sh"
DEBIAN_TXT = REPO_ROOT / "requirements" / "debian.txt"

FAKE_DPKG_QUERY = """#!/bin/sh
# dpkg-query -W -f='${Status}' NAME: installed when NAME is listed in $FAKE_INSTALLED.
for name in $FAKE_INSTALLED; do
  if [ "$name" = "$3" ]; then printf 'install ok installed'; exit 0; fi
done
echo "dpkg-query: no packages found matching $3" >&2
exit 1
"""
FAKE_ID = """#!/bin/sh
echo "$FAKE_UID"
"""
FAKE_APT_GET = """#!/bin/sh
echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-} apt-get $*" >> "$APT_LOG"
"""


def listed_packages() -> list[str]:
    names = []
    for line in DEBIAN_TXT.read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            names.append(words[0])
    return names


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    """A folder of stand-ins, put first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {
        "dpkg-query": FAKE_DPKG_QUERY,
        "id": FAKE_ID,
        "apt-get": FAKE_APT_GET,
    }.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def check(
    fakes: Path, *, installed: list[str], uid: int, path: str | None = None, argv=("",)
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = fakes.parent / "apt.log"
    env = {
        **os.environ,
        "PATH": path or f"{fakes}:{os.environ['PATH']}",
        "FAKE_INSTALLED": " ".join(installed),
        "FAKE_UID": str(uid),
        "APT_LOG": str(log),
    }
    env.pop("DEBIAN_FRONTEND", None)
    result = subprocess.run(
        [str(SCRIPT), *[a for a in argv if a]],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_the_list_names_the_packages_the_suite_runs() -> None:
    """Every binary the tests look for with tool()/find_binary comes from a listed package."""
    names = set(listed_packages())
    assert {
        "prometheus",
        "prometheus-alertmanager",
        "prometheus-pushgateway",
        "prometheus-postgres-exporter",
        "prometheus-redis-exporter",
        "postgresql-client",
        "docker-compose",
    } <= names
    assert "bats" not in names, "no test uses bats"


def test_not_root_names_the_missing_packages_and_the_exact_command(fakes: Path) -> None:
    everything = listed_packages()
    installed = [p for p in everything if p not in ("prometheus-pushgateway", "jq")]
    result, calls = check(fakes, installed=installed, uid=1000)
    assert result.returncode == 69, result.stderr
    assert "missing Debian packages" in result.stderr
    assert (
        "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends prometheus-pushgateway jq"
    ) in result.stderr
    assert calls == [], "nothing may be installed without root"


def test_root_updates_once_then_installs_only_the_missing_packages(fakes: Path) -> None:
    installed = [p for p in listed_packages() if p not in ("prometheus", "curl")]
    result, calls = check(fakes, installed=installed, uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "DEBIAN_FRONTEND= apt-get update -qq",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "prometheus curl",
    ]


def test_check_only_never_installs_even_as_root(fakes: Path) -> None:
    result, calls = check(fakes, installed=[], uid=0, argv=("--check",))
    assert result.returncode == 69
    assert calls == []


def test_complete_machine_changes_nothing(fakes: Path) -> None:
    result, calls = check(fakes, installed=listed_packages(), uid=0)
    assert result.returncode == 0, result.stderr
    assert calls == []


def test_missing_kubectl_stops_with_where_to_get_it(fakes: Path) -> None:
    """A PATH with only what the script needs, and no kubectl."""
    for tool_name in ("bash", "dirname", "basename", "date"):
        found = shutil.which(tool_name)
        assert found, tool_name
        (fakes / tool_name).symlink_to(found)
    result, _ = check(fakes, installed=listed_packages(), uid=0, path=str(fakes))
    assert result.returncode == 69, result.stderr
    assert "kubectl not found" in result.stderr
    assert "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/" in result.stderr


def test_make_test_stops_before_any_test_when_packages_are_missing(fakes: Path) -> None:
    """The real `make test`, as a non-root user on a machine missing one package."""
    installed = [p for p in listed_packages() if p != "prometheus-alertmanager"]
    env = {
        **os.environ,
        "PATH": f"{fakes}:{os.environ['PATH']}",
        "FAKE_INSTALLED": " ".join(installed),
        "FAKE_UID": "1000",
        "APT_LOG": str(fakes.parent / "apt.log"),
    }
    env.pop("MAKEFLAGS", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "test", "PYTEST_ARGS=--collect-only -q tests/build"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "apt-get install -y -qq --no-install-recommends prometheus-alertmanager" in output
    assert "pytest" not in output, "pytest ran although packages were missing"
