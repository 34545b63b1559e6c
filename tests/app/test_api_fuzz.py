"""The OpenAPI document is a true contract, checked by schemathesis against a live server.

Schemathesis generates requests from snip's own /openapi.json (valid ones, invalid ones
and sequences: create, read, change, delete) against snip under gunicorn on PostgreSQL
and Redis, and runs every check it has (``--checks all``): no 5xx; every status,
content type, header and body as documented; every request the document calls valid is
accepted and every invalid one refused; a deleted link stays unavailable. The rules JSON
Schema cannot state are in tests/app/schemathesis_hooks.py, the settings in
tests/app/schemathesis.toml.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.app.test_redirect import api_key
from tests.support import servers

HERE = Path(__file__).parent
MAX_EXAMPLES = "40"  # per operation and phase: about 1,000 requests, ~20 s
SEED = "20261128"  # reproducible; change it to explore other inputs


def test_every_generated_request_gets_the_documented_answer(pg_server, tmp_path):
    auth = api_key(pg_server)["Authorization"]
    result = servers.subprocess.run(
        [
            str(servers.VENV_BIN / "schemathesis"),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{pg_server.url}/openapi.json",
            "--header",
            f"Authorization: {auth}",
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--report-dir",
            str(tmp_path),
        ],
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.app.schemathesis_hooks",
            "PYTHONPATH": str(servers.REPO_ROOT),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
