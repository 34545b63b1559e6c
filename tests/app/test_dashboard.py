"""The dashboard's link pages: the same rules as the API, errors next to their fields,
statuses in the table, edits recorded, deletes confirmed, writes rate limited."""

from __future__ import annotations

import re

from tests.app.conftest import create_user
from tests.app.webclient import PASSWORD, post_form, sign_in


def signed_in(app, email="ann@example.com", role="member"):
    create_user(app, email, role, PASSWORD)
    client = app.test_client()
    sign_in(client, email)
    return client


def create(client, **fields):
    data = {"url": "https://example.com/page", "redirect_status": "302", **fields}
    return post_form(client, "/links/new", data)


def test_a_bad_url_is_refused_next_to_its_field(app):
    client = signed_in(app)
    page = create(client, url="javascript:alert(1)", slug="nope")
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert re.search(r'id="url-error">[^<]*(http|scheme)', body), body
    assert 'aria-invalid="true"' in body
    taken = create(client, slug="docs")  # reserved
    assert taken.status_code == 422 and 'id="slug-error"' in taken.get_data(as_text=True)


def test_create_edit_and_delete_with_confirmation(app):
    client = signed_in(app)
    made = create(client, slug="summer", tags="Summer, ads", max_clicks="5")
    assert made.status_code == 302 and made.headers["Location"] == "/links/summer"
    table = client.get("/links?tag=ads").get_data(as_text=True)
    assert "/summer" in table and ">active<" in table
    edited = post_form(
        client,
        "/links/summer/edit",
        {"url": "https://example.com/new", "tags": "ads", "redirect_status": "301",
         "expires_at": "", "max_clicks": ""},
    )  # fmt: skip
    assert edited.status_code == 302
    stats = client.get("/links/summer").get_data(as_text=True)
    assert "https://example.com/new" in stats and "301 redirect" in stats
    assert "last changed" in stats and "by ann@example.com" in stats
    confirm = client.get("/links/summer/delete").get_data(as_text=True)
    assert "cannot be undone" in confirm
    assert post_form(client, "/links/summer/delete", {}).status_code == 302
    assert ">deleted<" in client.get("/links?status=deleted").get_data(as_text=True)
    assert "/summer" not in client.get("/links").get_data(as_text=True)


def test_dashboard_writes_share_the_write_budget(make_app, sqlite_env):
    app = make_app({**sqlite_env, "SNIP_RATE_LIMIT_WRITES": "2 per minute"})
    client = signed_in(app)
    assert create(client, slug="one-1").status_code == 302
    assert create(client, slug="two-2").status_code == 302
    refused = create(client, slug="three-3")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert "Slow down" in refused.get_data(as_text=True)


def test_pages_load_only_assets_served_by_snip(app):
    client = signed_in(app, "root@example.com", "admin")
    create(client, slug="assets")
    pages = [(app.test_client(), "/login")] + [
        (client, path) for path in ("/links", "/links/new", "/links/assets", "/keys", "/users")
    ]
    for browser, path in pages:
        page = browser.get(path).get_data(as_text=True)
        assets = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="([^"]+)"', page)
        assert assets, path
        for asset in assets:
            assert asset.startswith("/"), f"{path} loads {asset} from elsewhere"
            assert client.get(asset).status_code == 200, asset
        assert "style=" not in page and "<script>" not in page  # nothing inline (CSP)


def test_the_stats_page_breaks_clicks_down_by_browser_os_and_device(app):
    from tests.app.conftest import ship_clicks

    client = signed_in(app)
    create(client, slug="gadget")
    firefox_on_linux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    visitor = app.test_client()
    for _ in range(2):
        answer = visitor.get("/gadget", headers={"User-Agent": firefox_on_linux})
        assert answer.status_code == 302
    ship_clicks(app)
    page = client.get("/links/gadget").get_data(as_text=True)
    for title in ("Countries", "Browsers", "Operating systems", "Devices"):
        assert f">{title}</h2>" in page
    assert re.search(r"<td>Firefox</td><td class=\"num\">2</td>", page), page
    assert re.search(r"<td>Linux</td><td class=\"num\">2</td>", page)
    assert re.search(r"<td>desktop</td><td class=\"num\">2</td>", page)
