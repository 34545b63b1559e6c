"""Property test: no input to any documented endpoint makes snip answer 5xx.

Schemathesis generates requests from snip's own OpenAPI document (valid, invalid and
odd: huge numbers, NUL bytes, unicode slugs) against snip under gunicorn on
PostgreSQL and Redis. A server error is a bug: bad input must get a 4xx that says why.
"""

from __future__ import annotations

from tests.app.test_redirect import api_key
from tests.support import servers


def test_no_generated_request_gets_a_server_error(pg_server, tmp_path):
    auth = api_key(pg_server)["Authorization"]
    result = servers.subprocess.run(
        [
            str(servers.VENV_BIN / "schemathesis"),
            "run",
            f"{pg_server.url}/openapi.json",
            "--header",
            f"Authorization: {auth}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--seed",
            "20261128",  # reproducible; change it to explore other inputs
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
