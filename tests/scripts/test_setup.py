"""scripts/setup.sh on a miniature project in a temporary folder.

Runs the real script (copied with scripts/lib) on a tiny package, so the repository's
own .venv and .env are never touched. Proves: it builds .venv, installs the locked
dependencies (a one-package dev.lock cut from the real one, checked by hash) and the
package editable; .env is created from .env.example once and never
overwritten; a second run succeeds and changes nothing; old Pythons are refused;
--dry-run creates nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "setupdemo"
version = "0"

[project.optional-dependencies]
dev = []

[tool.setuptools.packages.find]
where = ["src"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "scripts", root / "scripts")
    (root / "src" / "setupdemo").mkdir(parents=True)
    (root / "src" / "setupdemo" / "__init__.py").write_text("ANSWER = 42\n")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".env.example").write_text("SNIP_ENV=development\n")
    (root / "requirements").mkdir()
    shutil.copy(REPO_ROOT / "requirements" / "build.lock", root / "requirements")
    (root / "requirements" / "dev.lock").write_text(locked_entry("iniconfig"))
    return root


def locked_entry(name: str) -> str:
    """The lines of one package (its pin and hashes) from the real requirements/dev.lock."""
    lines = (REPO_ROOT / "requirements" / "dev.lock").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    --hash"))
    return "\n".join(lines[start:end]) + "\n"


def setup(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "scripts" / "setup.sh"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


@pytest.mark.slow
def test_setup_builds_everything_and_is_idempotent(project: Path):
    first = setup(project)
    assert first.returncode == 0, first.stderr
    python = project / ".venv" / "bin" / "python"
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import iniconfig, setupdemo; print(setupdemo.__file__, setupdemo.ANSWER)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # Editable: the import resolves to the source tree, not a copy.
    assert imported.stdout.split() == [str(project / "src" / "setupdemo" / "__init__.py"), "42"]
    assert (project / ".env").read_text() == "SNIP_ENV=development\n"

    (project / ".env").write_text("SNIP_ENV=development\nMY_OWN_SETTING=1\n")
    second = setup(project)
    assert second.returncode == 0, second.stderr
    assert "virtual environment exists" in second.stderr
    assert (project / ".env").read_text().endswith("MY_OWN_SETTING=1\n"), "existing .env kept"


def test_old_python_is_refused(project: Path, tmp_path: Path):
    fake = tmp_path / "python3.9"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        "# answers like a Python 3.9 would to setup.sh's two questions\n"
        'case "$*" in *"(3, 11)"*) exit 1 ;; *) echo 3.9 ;; esac\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = setup(project, "--python", str(fake))
    assert result.returncode == 69, result.stderr
    assert "3.11 or newer" in result.stderr
    assert not (project / ".venv").exists()


def test_dry_run_creates_nothing(project: Path):
    result = setup(project, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not (project / ".venv").exists()
    assert not (project / ".env").exists()
