"""README's quick start, followed as written against snip served the way `make run` serves it.

The commands are read from README.md ("## Quick start"), so an edit that breaks one
fails here. The `make ...` lines are replaced by what they do (migrate, then gunicorn
with snip.gunicorn_conf) on a free port with a throwaway SQLite file; every other line
runs in bash as shown, with the address and `.venv/bin/` pointed at this run and
`KEY=snip_...` filled with the key the previous command printed. A command must exit 0,
and a `# prints: TEXT` comment under a command is checked against what it printed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.servers import REPO_ROOT, VENV_BIN

README_ADDRESS = "http://127.0.0.1:8000"


def quick_start_commands() -> list[tuple[str, str | None]]:
    """(command, expected output or None) for each command of the quick start."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, str | None]] = []
    for block in re.findall(r"^```(?:bash|sh)\n(.*?)^```", section, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            stripped = line.strip()
            prints = re.match(r"#\s*prints:\s*(.+)$", stripped)
            if prints and commands:
                commands[-1] = (commands[-1][0], prints.group(1).strip())
            elif stripped and not stripped.startswith("#"):
                commands.append((stripped, None))
    return commands


def test_the_quick_start_is_found():
    commands = [c for c, _ in quick_start_commands()]
    assert any(c.startswith("make run") for c in commands)
    assert any(c.startswith("curl") for c in commands)


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path):
    env = servers.snip_env(DATABASE_URL=f"sqlite:///{tmp_path / 'snip.db'}")
    servers.run_snip_cli("db", "upgrade", env=env)
    server = servers.SnipServer(env).start()
    key = ""
    try:
        for command, expected in quick_start_commands():
            if command.startswith("make "):
                continue  # done above: migrate, then gunicorn as `make run` starts it
            if re.match(r"KEY=snip_\S*$", command.split("#")[0].strip()):
                assert key, "the quick start sets KEY before creating a key"
                continue
            shell = command.replace(README_ADDRESS, server.url).replace(
                ".venv/bin/", f"{VENV_BIN}/"
            )
            result = subprocess.run(
                ["bash", "-c", shell],
                env={**env, "KEY": key},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                # The README says: type a password, then Enter.
                input=servers.TEST_PASSWORD + "\n" if "--password-stdin" in command else None,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            if "keys create" in command:
                found = re.search(r"\bsnip_\S+", result.stdout)
                assert found, f"no key printed by {command}: {result.stdout}"
                key = found.group(0)
            if expected is not None:
                assert result.stdout.strip() == expected, command
    finally:
        server.stop()
