"""docs/security.md's takedown commands work as written, against a running snip.

The commands are read from the "Takedowns" section itself, so editing them there
without keeping them working fails this test.
"""

from __future__ import annotations

import re
import subprocess

import requests

from tests.support import servers
from tests.support.servers import REPO_ROOT


def takedown_block() -> str:
    text = (REPO_ROOT / "docs" / "security.md").read_text()
    section = text.split("## Takedowns\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block, "docs/security.md, Takedowns: no bash block"
    return block.group(1)


def test_the_documented_takedown_deletes_the_link(tmp_path):
    env = servers.snip_env(DATABASE_URL=f"sqlite:///{tmp_path}/snip.db")
    servers.run_snip_cli("db", "upgrade", env=env)
    key = servers.create_key(env, "t")
    server = servers.SnipServer(env=env, workers=1).start()
    with servers.running(server):
        auth = {"Authorization": f"Bearer {key}"}
        requests.post(
            f"{server.url}/api/v1/links",
            json={"url": "https://phish.example/", "slug": "abuse"},
            headers=auth,
            timeout=5,
        ).raise_for_status()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", takedown_block()],
            env={**env, "KEY": key, "SNIP_BASE_URL": server.url, "SLUG": "abuse"},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["204", "410"]
