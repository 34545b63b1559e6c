"""db-backup.sh reports to a real Pushgateway (prometheus-pushgateway from Debian).

Proves the metric names and labels the backup alerts and dashboard rely on
(docs/interfaces.md): a success pushes time, duration and size under job="snip-backup";
a later failure pushes the failure time WITHOUT wiping the last success.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.scripts.helpers import explain, run_script
from tests.support import servers
from tests.support.tools import tool


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    port = servers.free_port()
    proc = subprocess.Popen(
        [
            tool("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={tmp_path / 'pgw.data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers.wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def backup_samples(url: str) -> dict[str, float]:
    """snip_backup_* samples of job snip-backup, by metric name."""
    samples = {}
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("snip_backup_") and 'job="snip-backup"' in line:
            name = line.split("{", 1)[0]
            samples[name] = float(line.rsplit(" ", 1)[1])
    return samples


def test_success_then_failure_both_reach_the_pushgateway(source_db, pushgateway, tmp_path):
    started = time.time()
    ok = run_script(
        "backup/db-backup.sh",
        "--dir",
        tmp_path,
        env={"DATABASE_URL": source_db, "PUSHGATEWAY_URL": pushgateway},
    )
    assert ok.returncode == 0, explain(ok)
    dump = Path(ok.stdout.strip())

    samples = backup_samples(pushgateway)
    assert samples["snip_backup_size_bytes"] == dump.stat().st_size
    assert samples["snip_backup_duration_seconds"] > 0
    assert samples["snip_backup_last_success_timestamp_seconds"] >= int(started)
    assert "snip_backup_last_failure_timestamp_seconds" not in samples

    nobody = f"postgresql://postgres@127.0.0.1:{servers.free_port()}/snip"
    failed = run_script(
        "backup/db-backup.sh",
        "--dir",
        tmp_path,
        env={"DATABASE_URL": nobody, "PUSHGATEWAY_URL": pushgateway, "PGCONNECT_TIMEOUT": "3"},
    )
    assert failed.returncode == 1, explain(failed)

    after = backup_samples(pushgateway)
    assert after["snip_backup_last_failure_timestamp_seconds"] >= int(started)
    # The failure push must not erase the evidence of the last good backup.
    assert (
        after["snip_backup_last_success_timestamp_seconds"]
        == samples["snip_backup_last_success_timestamp_seconds"]
    )
    assert after["snip_backup_size_bytes"] == samples["snip_backup_size_bytes"]


def test_metrics_are_pushed_without_curl(source_db, pushgateway, tmp_path):
    """The snip images have python3 but no curl: the push falls back to Python."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = [
        "bash",
        "env",
        "pg_dump",
        "pg_restore",
        "psql",
        "sha256sum",
        "flock",
        "date",
        "stat",
        "awk",
        "find",
        "sort",
        "cut",
        "mv",
        "rm",
        "mkdir",
        "sync",
        "basename",
        "dirname",
        "cat",
        "tr",
        "grep",
        "sed",
        "head",
        "python3",
        "perl",
    ]
    for name in tools:
        # The real interpreter, not a version-manager shim that needs more of PATH.
        found = Path(sys.executable).resolve() if name == "python3" else shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    assert not (bin_dir / "curl").exists()

    result = run_script(
        "backup/db-backup.sh",
        "--dir",
        tmp_path / "backups",
        env={"DATABASE_URL": source_db, "PUSHGATEWAY_URL": pushgateway, "PATH": str(bin_dir)},
    )
    assert result.returncode == 0, explain(result)
    assert "could not push" not in result.stderr, explain(result)
    assert backup_samples(pushgateway)["snip_backup_size_bytes"] > 0
