"""`make backup-drill` runs the whole drill on this machine and meets the RPO.

The drill (tests/scripts/backup_drill.py) starts its own S3 server and archiving
PostgreSQL, writes while the base backup runs, loses the primary, restores to an
instant and to the latest archived state, verifies both, and prints RPO and RTO.
Here it runs shorter than the default (20 s of writes after the backup, WAL switched
every 10 s) to keep the suite quick; its checks are the same.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.objectstore import require_backup_tools
from tests.support.servers import REPO_ROOT


@pytest.mark.slow
def test_make_backup_drill_exits_0_and_prints_rpo_within_60_seconds():
    require_backup_tools()
    result = subprocess.run(
        ["make", "-s", "backup-drill", "ARGS=--after-seconds 20 --archive-timeout 10"],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    rpo = re.search(r"^RPO (\d+(?:\.\d+)?)$", result.stdout, re.M)
    rto = re.search(r"^RTO (\d+(?:\.\d+)?)$", result.stdout, re.M)
    assert rpo and rto, out[-4000:]
    assert float(rpo.group(1)) <= 60
    assert "all" in out and "writes committed before T are back" in out
    assert "FAIL" not in result.stdout
