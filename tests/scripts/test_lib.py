"""The shared shell helpers in scripts/lib/common.sh behave as every script relies on.

Proves: confirmation refuses without a terminal unless --yes; preflight names every
missing tool at once and exits 69; a missing option value is a usage error (64);
--dry-run only prints; logs go to stderr with a UTC timestamp, keeping stdout clean.
"""

from __future__ import annotations

import re
import subprocess

from tests.support.servers import REPO_ROOT

COMMON = REPO_ROOT / "scripts" / "lib" / "common.sh"


def bash(snippet: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{COMMON}"; {snippet}'],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def test_confirm_refuses_without_a_terminal_and_accepts_yes():
    refused = bash('confirm "Drop everything?" && echo yes || echo refused')
    assert refused.stdout.strip() == "refused"
    assert "no terminal" in refused.stderr and "--yes" in refused.stderr
    accepted = bash('ASSUME_YES=1; confirm "Drop everything?" && echo yes')
    assert accepted.stdout.strip() == "yes"


def test_yes_cannot_come_from_the_environment():
    result = subprocess.run(
        ["bash", "-c", f'source "{COMMON}"; confirm "Sure?" && echo yes || echo refused'],
        env={"ASSUME_YES": "1", "DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.stdout.strip() == "refused"


def test_require_tools_names_every_missing_tool():
    result = bash("require_tools bash no-such-tool-a no-such-tool-b; echo unreachable")
    assert result.returncode == 69
    assert "no-such-tool-a no-such-tool-b" in result.stderr
    assert "unreachable" not in result.stdout


def test_need_value_is_a_usage_error():
    result = bash("need_value --tag; echo unreachable")
    assert result.returncode == 64
    assert "--tag needs a value" in result.stderr
    assert bash("need_value --tag --yes").returncode == 64


def test_run_in_dry_run_only_prints():
    result = bash("DRY_RUN=1; run touch /tmp/snip-lib-test-must-not-exist; echo done")
    assert result.returncode == 0
    assert "[dry-run] would run: touch /tmp/snip-lib-test-must-not-exist" in result.stderr
    assert not (REPO_ROOT / "/tmp/snip-lib-test-must-not-exist").exists()


def test_logs_go_to_stderr_with_a_utc_timestamp():
    result = bash('info "hello"; die 3 "broken"')
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO  \[bash\] hello$", lines[0])
    assert re.match(r"\S+Z ERROR \[bash\] broken$", lines[1])
