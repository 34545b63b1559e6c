"""Every shell script (and the test stand-in kubectl) is shellcheck-clean at style level."""

from __future__ import annotations

import subprocess

from tests.support.servers import REPO_ROOT
from tests.support.tools import tool


def test_shellcheck_is_clean():
    scripts = sorted(str(p) for p in (REPO_ROOT / "scripts").rglob("*.sh"))
    scripts.append(str(REPO_ROOT / "tests" / "scripts" / "fake_kubectl"))
    assert len(scripts) >= 9
    result = subprocess.run(
        [tool("shellcheck"), "-x", "-S", "style", *scripts],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
