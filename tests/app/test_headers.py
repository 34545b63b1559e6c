"""Security headers (issue 13): every HTML page is framed by nobody, runs only its own
scripts, and the docs page still works in a real browser under that policy."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from flask import Flask

from snip.headers import csp
from tests.app.conftest import shorten
from tests.support import servers

HTML_PAGES = ["/", "/docs"]


def directives(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.parametrize("path", HTML_PAGES)
def test_html_pages_send_the_security_headers(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for name in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[name] and "'unsafe-eval'" not in policy[name]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_each_response_gets_its_own_nonce_and_the_page_uses_it(client):
    first, second = client.get("/docs"), client.get("/docs")
    nonce = re.search(r"'nonce-([^']+)'", first.headers["Content-Security-Policy"])
    assert nonce is not None
    assert f'nonce="{nonce.group(1)}"' in first.get_data(as_text=True)
    assert nonce.group(1) not in second.headers["Content-Security-Policy"]


def test_json_gets_nosniff_and_redirects_stay_lean(client, auth):
    shorten(client, auth, slug="lean")
    api = client.get("/api/v1/links", headers=auth)
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    redirect = client.get("/lean")
    assert redirect.status_code == 302
    assert "Content-Security-Policy" not in redirect.headers


def test_a_view_widens_only_its_own_policy(make_app, sqlite_env):
    app: Flask = make_app(sqlite_env)

    @app.get("/widened")
    @csp(img_src=["blob:"], worker_src=["'self'"])
    def widened():
        return "<p>hi</p>"

    client = app.test_client()
    policy = directives(client.get("/widened").headers["Content-Security-Policy"])
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["worker-src"] == ["'self'"]
    assert "blob:" not in client.get("/").headers["Content-Security-Policy"]
    with pytest.raises(ValueError, match="unsafe-inline"):
        csp(script_src=["'unsafe-inline'"])(lambda: "")()  # refused even if asked for


# ------------------------------------------------------------------- a real browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def embedded_server(sqlite_env) -> Iterator[servers.SnipServer]:
    env = servers.snip_env(**sqlite_env)
    servers.run_snip_cli("db", "upgrade", env=env)
    server = servers.SnipServer(env=env, workers=1).start()
    with servers.running(server):
        yield server


def render(url: str) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console's CSP complaints."""
    if not shutil.which(CHROMIUM):
        pytest.fail("chromium is not installed: apt-get install chromium", pytrace=False)
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    complaints = [line for line in result.stderr.splitlines() if "Content Security Policy" in line]
    return result.stdout, complaints


@pytest.mark.slow
def test_the_docs_page_works_under_its_policy_in_a_real_browser(embedded_server):
    dom, complaints = render(f"{embedded_server.url}/docs")
    assert complaints == []
    # Swagger UI ran: it fetched the spec and drew the operations.
    assert "/api/v1/links/{slug}/stats" in dom
    assert 'class="opblock-summary-path"' in dom or "opblock" in dom


@pytest.mark.slow
def test_the_home_page_loads_without_policy_violations(embedded_server):
    dom, complaints = render(f"{embedded_server.url}/")
    assert complaints == []
    assert "snip users create" in dom  # no user yet: how to make the first admin


@pytest.mark.slow
def test_the_browser_check_can_fail(tmp_path):
    """An inline script without a nonce is refused, and the check sees the complaint."""
    page = tmp_path / "page.html"
    policy = "script-src 'self'"
    page.write_text(
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        "<div id=x>before</div><script>document.getElementById('x').textContent='ran'</script>"
    )
    dom, complaints = render(page.as_uri())
    assert ">before<" in dom
    assert complaints
