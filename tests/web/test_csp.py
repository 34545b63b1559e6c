"""Every page works under snip's Content-Security-Policy in a real browser (issue 13).

The policy (snip.headers) allows no inline script or style without the response's
nonce. A page that breaks it shows up here twice: the browser fires a
``securitypolicyviolation`` event (recorded by a script injected before any page
script runs) and logs the refusal on the console.
"""

from __future__ import annotations

import pytest

from tests.web.conftest import sign_in

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def watched(page):
    """The page, recording every CSP refusal (events and console lines)."""
    page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.csp_console = console
    return page


def violations(page) -> list[str]:
    return [*page.evaluate("window.__cspViolations"), *page.csp_console]


def test_swagger_ui_works_under_the_policy(watched, snip_site):
    watched.goto(f"{snip_site.url}/docs")
    operation = watched.locator(".opblock-summary").filter(has_text="/api/v1/links/{slug}/stats")
    operation.first.click()  # Swagger UI's own JavaScript expands the operation
    watched.get_by_role("button", name="Try it out").first.wait_for()
    assert violations(watched) == []


@pytest.mark.parametrize("path", ["/", "/login", "/docs/errors", "/no-such-link"])
def test_public_pages_break_no_rule(watched, snip_site, path):
    watched.goto(f"{snip_site.url}{path}")
    watched.wait_for_load_state("networkidle")
    assert violations(watched) == []


def test_the_dashboard_breaks_no_rule(watched, snip_site):
    sign_in(watched, snip_site)
    for path in ("/links", "/links/new", "/keys"):
        watched.goto(f"{snip_site.url}{path}")
        watched.wait_for_load_state("networkidle")
    assert violations(watched) == []


def test_a_violation_would_be_seen(watched, snip_site):
    """The check can fail: an inline script without the nonce is refused and recorded."""
    watched.goto(f"{snip_site.url}/login")
    watched.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = true'; document.body.appendChild(s); }"
    )
    assert watched.evaluate("window.ran") is None
    assert any("script-src" in v for v in violations(watched))
