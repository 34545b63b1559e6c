"""Find the command-line tools the offline checks run, or say how to get them.

`make test` installs the Debian packages first (requirements/debian.txt), so a hint
below shows only when a test runs outside make (plain pytest on a new machine).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"

HINTS = {
    "kubectl": "install kubectl (it carries kustomize): "
    "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/",
    "promtool": "apt-get install prometheus",
    "prometheus": "apt-get install prometheus",
    "alertmanager": "apt-get install prometheus-alertmanager",
    "prometheus-alertmanager": "apt-get install prometheus-alertmanager",
    "amtool": "apt-get install prometheus-alertmanager",
    "prometheus-pushgateway": "apt-get install prometheus-pushgateway",
    "prometheus-postgres-exporter": "apt-get install prometheus-postgres-exporter",
    "prometheus-redis-exporter": "apt-get install prometheus-redis-exporter",
    "pg_dump": "apt-get install postgresql-client",
    "pg_restore": "apt-get install postgresql-client",
    "docker-compose": "apt-get install docker-compose (used for `config` only)",
}


def tool(name: str) -> str:
    """Path of a tool: the project's .tools/ virtualenv first, then PATH.

    Fails the test (never skips it) with the install command when the tool is
    missing, so a machine without it cannot pass by silently checking nothing.
    """
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    hint = HINTS.get(name, "run `make tools` (installs requirements/tools.txt into .tools/)")
    pytest.fail(f"'{name}' is not installed: {hint}", pytrace=False)


def run(argv: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a checker; the caller asserts on returncode and shows its output."""
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=REPO_ROOT, **kwargs
    )
