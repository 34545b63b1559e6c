"""What people do with snip in a real browser (issue 10), narrated step by step."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from snip.qr import qr_code
from tests.support import servers
from tests.web.conftest import (
    ADMIN,
    api_key,
    invite,
    screenshot,
    serious_violations,
    sign_in,
)

pytestmark = pytest.mark.slow
# What a screen reader would call the focused control: its label, aria-label or text.
FOCUSED_NAME = """() => {
  const e = document.activeElement;
  const label = e.labels && e.labels[0] ? e.labels[0].innerText : "";
  return (label || e.getAttribute("aria-label") || e.innerText || e.value || "").trim();
}"""


def ship_clicks(site: servers.SnipServer) -> None:
    """Clicks wait in Redis until the flusher moves them (a CronJob or Deployment in a cluster)."""
    servers.run_snip_cli("clicks", "flush", env=site.env, check=False)


def test_first_admin_creates_shares_follows_and_counts_a_link(page, snip_site, landing_site):
    site = snip_site
    target = f"{landing_site}/spring/sale?utm_source=poster"
    # The first admin (made with `snip users create`) signs in.
    sign_in(page, site)
    expect(page.get_by_role("heading", name="All links")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "links-empty")

    # Creates a link with a custom slug and tags.
    page.get_by_role("link", name="New link").first.click()
    page.get_by_label("Long URL").fill(target)
    page.get_by_label("Custom slug (optional)").fill("spring-sale")
    page.get_by_label("Tags (comma-separated, optional)").fill("Spring, posters")
    assert serious_violations(page) == []
    screenshot(page, "link-new")
    page.get_by_role("button", name="Create link").click()
    page.wait_for_url(re.compile(r".*/links/spring-sale$"))
    expect(page.get_by_role("status")).to_contain_text(f"{site.url}/spring-sale")

    # Finds it in the table, by search and by tag.
    page.get_by_role("link", name="Links", exact=True).click()
    page.get_by_label("Search").fill("spring")
    page.get_by_role("button", name="Apply").click()
    row = page.get_by_role("row").filter(has_text="/spring-sale")
    expect(row).to_contain_text("/spring/sale")
    expect(row).to_contain_text("active")
    page.get_by_label("Search").fill("")
    page.get_by_label("Tag").select_option("posters")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("row").filter(has_text="/spring-sale")).to_have_count(1)
    assert serious_violations(page) == []
    screenshot(page, "links-table")

    # Downloads its QR code: it encodes the short link.
    row.get_by_role("link", name="Stats of spring-sale").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download QR code (PNG)").click()
    png = Path(download.value.path()).read_bytes()
    assert png == qr_code(f"{site.url}/spring-sale", "png")
    assert download.value.suggested_filename == "spring-sale-qr.png"

    # Follows it, as a person would.
    visitor = page.context.browser.new_context(user_agent=page.evaluate("navigator.userAgent"))
    tab = visitor.new_page()
    tab.goto(f"{site.url}/spring-sale")
    assert tab.url == target
    expect(tab.get_by_role("heading", name="Landed")).to_be_visible()
    visitor.close()

    # Sees the click on its stats page.
    ship_clicks(site)
    people = page.locator(".total").filter(has_text="by people").locator(".total-number")
    for _attempt in range(30):
        page.reload()
        if people.inner_text() == "1":
            break
        ship_clicks(site)
    expect(people).to_have_text("1")
    expect(page.locator("svg.chart title").first).to_contain_text("1 in all")

    # The copy button copies exactly the short link shown (headless Chromium's clipboard
    # does not answer trusted clicks, so the click itself is not checked here).
    expect(page.get_by_label("Short link")).to_have_value(f"{site.url}/spring-sale")
    assert serious_violations(page) == []
    screenshot(page, "link-stats")


def test_a_member_cannot_see_or_change_another_members_links(page, snip_site, browser):
    site = snip_site
    invite(site, "mia@example.com")
    invite(site, "noah@example.com")
    mia_key = api_key(site, "mia@example.com")
    noah_key = api_key(site, "noah@example.com")
    made = requests.post(
        f"{site.url}/api/v1/links",
        json={"url": "https://example.com/mia", "slug": "mias-link", "tags": ["private"]},
        headers={"Authorization": f"Bearer {mia_key}"},
        timeout=10,
    )
    assert made.status_code == 201

    # In the UI: Noah's table does not show it, and its pages do not exist for him.
    sign_in(page, site, "noah@example.com")
    expect(page.get_by_role("heading", name="Your links")).to_be_visible()
    expect(page.get_by_text("mias-link")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # not an admin
    for path in ("/links/mias-link", "/links/mias-link/edit", "/links/mias-link/delete"):
        response = page.goto(f"{site.url}{path}")
        assert response.status == 404, path
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()

    # Through the API: his key can neither read nor change nor delete it.
    noah = {"Authorization": f"Bearer {noah_key}"}
    patched = requests.patch(
        f"{site.url}/api/v1/links/mias-link",
        json={"url": "https://evil.example.org/"},
        headers=noah,
        timeout=10,
    )
    assert patched.status_code == 404
    assert patched.headers["Content-Type"] == "application/problem+json"
    deleted = requests.delete(f"{site.url}/api/v1/links/mias-link", headers=noah, timeout=10)
    assert deleted.status_code == 404
    follow = requests.get(f"{site.url}/mias-link", allow_redirects=False, timeout=10)
    assert follow.headers["Location"] == "https://example.com/mia"  # untouched

    # Mia sees and manages it.
    mia = browser.new_context(viewport={"width": 1280, "height": 900})
    mia_page = mia.new_page()
    sign_in(mia_page, site, "mia@example.com")
    expect(mia_page.get_by_role("row").filter(has_text="/mias-link")).to_have_count(1)
    mia.close()


def test_an_expired_link_shows_the_410_page_and_the_api_keeps_json(page, snip_site, landing_site):
    site = snip_site
    key = api_key(site, ADMIN)
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    made = requests.post(
        f"{site.url}/api/v1/links",
        json={"url": f"{landing_site}/offer", "slug": "flash-offer", "expires_at": soon},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert made.status_code == 201
    # Poll until the moment has passed for every worker (no fixed sleep).
    for _attempt in range(100):
        response = page.goto(f"{site.url}/flash-offer")
        if response.status == 410:
            break
        page.wait_for_timeout(200)
    assert response.status == 410
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "visitor-expired")

    api = requests.get(f"{site.url}/flash-offer", allow_redirects=False, timeout=10)
    assert api.status_code == 410
    assert api.headers["Content-Type"] == "application/problem+json"
    assert "expired" in api.json()["detail"]

    unknown = page.goto(f"{site.url}/never-made")
    assert unknown.status == 404
    expect(page.get_by_role("heading", name="This short link does not exist")).to_be_visible()
    screenshot(page, "visitor-unknown")


def test_keyboard_only_sign_in_create_and_reach_stats(page, snip_site):
    site = snip_site
    page.goto(f"{site.url}/login")

    def tab_to(name: str, limit: int = 40) -> None:
        """Press Tab until the focused control's accessible text is ``name``."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED_NAME)
            if focused == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Email")
    page.keyboard.type(ADMIN)
    tab_to("Password")
    page.keyboard.type(servers.TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/links$"))

    tab_to("New link")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/links/new$"))
    tab_to("Long URL")
    page.keyboard.type("https://example.com/keyboard")
    tab_to("Custom slug (optional)")
    page.keyboard.type("by-keys")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/links/by-keys$"))

    # From the table, to its stats, by keyboard too.
    tab_to("Links")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/links$"))
    tab_to("/by-keys")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/links/by-keys$"))
    expect(page.get_by_role("heading", name="Stats of /by-keys")).to_be_visible()
    # Focus is visible where it lands (the browser draws the outline from our CSS).
    tab_to("Copy")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_every_page_passes_axe_and_is_photographed(page, snip_site):
    site = snip_site
    sign_in(page, site)
    requests.post(
        f"{site.url}/api/v1/links",
        json={"url": "https://example.com/docs/getting-started", "slug": "axe-check",
              "tags": ["docs"], "max_clicks": 100},
        headers={"Authorization": f"Bearer {api_key(site, ADMIN)}"},
        timeout=10,
    )  # fmt: skip
    pages = {
        "links": "/links",
        "link-edit": "/links/axe-check/edit",
        "link-delete": "/links/axe-check/delete",
        "keys": "/keys",
        "users": "/users",
        "not-found": "/links/nothing-here",
    }
    problems = {}
    for name, path in pages.items():
        page.goto(f"{site.url}{path}")
        if found := serious_violations(page):
            problems[path] = found
        screenshot(page, name)

    # A key shown once, an invite link shown once.
    page.goto(f"{site.url}/keys")
    page.get_by_label("Key name").fill("build server")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("New API key")).to_have_value(re.compile(r"^snip_"))
    problems["/keys (new key)"] = serious_violations(page)
    screenshot(page, "keys-new")
    page.goto(f"{site.url}/users")
    page.get_by_label("Email").fill("zoe@example.com")
    page.get_by_role("button", name="Create invite link").click()
    expect(page.get_by_label("One-time link")).to_have_value(re.compile(r"/accept/"))
    problems["/users (invite)"] = serious_violations(page)
    accept = page.get_by_label("One-time link").input_value()
    screenshot(page, "users-invite")

    # Signed out: the sign-in page and the invite's password page.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    problems["/login"] = serious_violations(page)
    screenshot(page, "login")
    page.goto(accept)
    problems["/accept"] = serious_violations(page)
    screenshot(page, "accept-invite")
    assert {path: found for path, found in problems.items() if found} == {}
