"""The Dockerfile's Python install steps, run for real outside Docker.

No Docker engine runs here, so the image cannot be built. What matters about its
dependency steps can still be run: the `pip` commands of the builder and base stages are
read from the Dockerfile and executed as written, in virtualenvs standing in for the
two stages, with the image's paths (/wheels, /requirements) pointed at temporary folders
and the machine's pip configuration switched off (the image has none). Proves: every
locked package has a file pip accepts by hash; the final stage installs from the
builder's wheels alone (--no-index) exactly the packages of requirements/runtime.lock
plus snip; the result imports and builds the app. Not exercised: the base image itself,
users, the ops stage's apt-get.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.support.servers import REPO_ROOT


def stage_runs(stage: str) -> list[str]:
    """The RUN commands of one Dockerfile stage, continuation lines joined."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runs, current = [], None
    for line in text.splitlines():
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if found:
            current = found.group(1)
        elif current == stage and line.startswith("RUN "):
            runs.append(line[4:])
    return runs


def as_here(command: str, paths: dict[str, Path]) -> str:
    """The command with BuildKit mounts dropped and the image's paths made local."""
    command = re.sub(r"--mount=\S+\s*", "", command)
    for image_path, local in paths.items():
        command = re.sub(rf"(?<![\w./]){re.escape(image_path)}(?=[/\s]|$)", str(local), command)
    return command


def run_stage(command: str, venv: Path, cwd: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PIP_CONFIG_FILE": os.devnull,  # the image has no extra index nor find-links
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def locked_runtime() -> dict[str, str]:
    found = {}
    for line in (REPO_ROOT / "requirements" / "runtime.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)(?: ; ([^\\]+))? \\$", line)
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


@pytest.mark.slow
def test_the_image_installs_exactly_the_runtime_lock(tmp_path: Path) -> None:
    builder_runs = [r for r in stage_runs("builder") if "pip " in r]
    base_runs = [r for r in stage_runs("base") if "pip " in r]
    assert builder_runs and base_runs, "no pip steps found in the builder and base stages"

    # The builder's WORKDIR /build with what its COPY lines bring.
    build = tmp_path / "build"
    (build / "requirements").mkdir(parents=True)
    for name in ("runtime.lock", "build.lock"):
        shutil.copy(REPO_ROOT / "requirements" / name, build / "requirements")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, build)
    shutil.copytree(REPO_ROOT / "src", build / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    paths = {"/wheels": tmp_path / "wheels", "/requirements": build / "requirements"}

    builder, final = tmp_path / "builder-python", tmp_path / "final-python"
    for venv in (builder, final):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for command in builder_runs:
        run_stage(as_here(command, paths), builder, build)
    for command in base_runs:
        run_stage(as_here(command, paths), final, tmp_path)

    frozen = subprocess.run(
        [str(final / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {
        canonicalize_name(n): v for n, v in re.findall(r"^(\S+)==(\S+)$", frozen, flags=re.M)
    }
    installed.pop("pip", None)  # the interpreter's own
    installed.pop("setuptools", None)  # the base image's Python carries one; not ours
    assert installed.pop("snip", None), "snip itself is not installed"
    assert installed == locked_runtime()
    subprocess.run(
        [str(final / "bin" / "python"), "-c", "import snip; snip.create_app"], check=True
    )
