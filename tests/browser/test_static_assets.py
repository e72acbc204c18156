"""The pages' own stylesheet and htmx load: without htmx nothing on the console or status page is live."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_the_report_page_loads_its_stylesheet_and_htmx(page: Page, tiny):
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"/r/{tiny.ws('PC-A1-1').report_token}/")
    assets = page.evaluate(
        "[...document.querySelectorAll('link[rel=stylesheet], script[src]')].map(e => e.href || e.src)"
    )
    assert any(url.endswith(".css") for url in assets) and any("htmx" in url for url in assets), assets
    for url in assets:
        response = page.request.get(url)
        assert response.status == 200, f"{url} answered {response.status}"
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"
    assert not [line for line in failed if "/static/" in line], failed
