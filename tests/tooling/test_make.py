"""The Makefile's own promises: `make help` is readable, a missing tool is named.

Runs the real make on the real Makefile (with mk/*.mk). Proves: `make help` lists every
described target with its description separated from the name, however long the name
(names of 17+ characters used to run into their text); `make monitoring-rules-test`
on a machine without promtool stops with the install command, not a bare status 127.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.servers import REPO_ROOT

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def described_targets() -> dict[str, str]:
    found = {}
    for makefile in [REPO_ROOT / "Makefile", *sorted((REPO_ROOT / "mk").glob("*.mk"))]:
        for name, text in re.findall(
            r"^([a-zA-Z0-9_-]+):.*## (.*)$", makefile.read_text(), flags=re.M
        ):
            found[name] = text.strip()
    return found


def test_help_separates_every_name_from_its_description():
    result = make("help")
    assert result.returncode == 0, result.stderr
    lines = [ANSI.sub("", line) for line in result.stdout.splitlines() if line.strip()]
    targets = described_targets()
    assert max(len(name) for name in targets) > 16, "no long name left to prove the width"
    columns = set()
    shown = {}
    for line in lines:
        match = re.match(r"^  (\S+)( {2,})(\S.*)$", line)
        assert match, f"name and description run together: {line!r}"
        shown[match.group(1)] = match.group(3)
        columns.add(len(match.group(1)) + len(match.group(2)))
    assert shown == targets
    assert len(columns) == 1, "descriptions do not start in one column"


def test_rules_test_without_promtool_says_how_to_install_it(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "bash", "env", "cat", "cksum", "cut"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    result = make("monitoring-rules-test", path=str(bin_dir))
    assert result.returncode != 0
    assert "promtool not found" in result.stderr
    assert "apt-get install prometheus" in result.stderr
