"""Browser tests of the dashboard: Playwright driving Debian's Chromium against snip
under gunicorn on real PostgreSQL and Redis.

Playwright's own browser download does not work on our machines (and CI installs
nothing from outside the package registries), so the tests launch the system's
/usr/bin/chromium (Debian package `chromium`, listed in requirements/debian.txt).
Screenshots land in build/screenshots/ (git-ignored): kept as test artifacts.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support import servers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = servers.REPO_ROOT / "build" / "screenshots"
ADMIN = servers.TEST_ADMIN
PASSWORD = servers.TEST_PASSWORD
# A desktop Chrome's user agent: these visits stand for people (HeadlessChrome counts as a bot).
PERSON_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def snip_site(postgres_admin_url: str, redis_server) -> Iterator[servers.SnipServer]:
    """snip under gunicorn (2 workers) on its own PostgreSQL database and Redis, with a first
    admin made the way the README says (`snip users create ... --admin --password-stdin`)."""
    url = servers.create_database(postgres_admin_url, prefix="snip_web")
    env = servers.snip_env(DATABASE_URL=url, REDIS_URL=redis_server.url)
    try:
        servers.run_snip_cli("db", "upgrade", env=env)
        servers.create_admin(env)
        server = servers.SnipServer(env=env, workers=2).start()
        with servers.running(server):
            yield server
    finally:
        servers.drop_database(postgres_admin_url, url)


class Landing(BaseHTTPRequestHandler):
    """The site a short link sends people to: answers every page, remembers nothing."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>Landed</title><h1>Landed</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def landing_site() -> Iterator[str]:
    """A real web site on this machine (``localhost``: snip refuses links to its own host)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Landing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, snip_site):
    """A fresh browser tab (own cookies) at desktop width. Pages of example.com (opened
    from a link's details) get a stand-in, since the machine has no Internet; redirects
    are followed by the network stack, past such stand-ins: use ``landing_site`` for them."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, user_agent=PERSON_UA, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    context.route(
        re.compile(r"^https://[a-z0-9.-]*example\.(com|org)/.*"),
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<title>Landed</title><h1>Landed</h1>"
        ),
    )
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page, site: servers.SnipServer, email: str = ADMIN, password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/links$"))


def screenshot(page, name: str) -> None:
    """The page at 1280 and at 375 px wide (a phone), full length."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 812})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the current page, readable."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [", ".join(node["target"]) for node in violation["nodes"]][:3]
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} {targets}"
            )
    return found


def api_key(site: servers.SnipServer, email: str) -> str:
    return servers.run_snip_cli(
        "keys", "create", "--name", f"key of {email}", "--user", email, env=site.env
    ).stdout.strip()


def invite(site: servers.SnipServer, email: str, password: str = PASSWORD) -> None:
    """A member, invited with `snip users create` and signed up through the one-time link."""
    printed = servers.run_snip_cli("users", "create", "--email", email, env=site.env).stdout
    link = site.url + printed[printed.index("/accept/") :].strip()
    session = requests.Session()
    form = session.get(link, timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    done = session.post(
        link,
        data={"csrf_token": token, "password": password, "confirm": password},
        timeout=10,
        allow_redirects=False,
    )
    assert done.status_code == 302, done.text
