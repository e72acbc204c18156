"""Browser tests: Debian's chromium driven by Playwright's sync API against pytest-django's live server.

One chromium per session, a fresh context (cookies, storage) per actor per test. Every context
sends ``Accept-Language: zh-CN`` like a ward PC in China, so pages come up in Chinese unless
someone picks another language. Nothing here sleeps: Playwright's expectations auto-wait, and
htmx polls are triggered by hand (``htmx.ajax``) instead of waiting 5–15 s for them.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from hisguard.organisation.models import Asset

from ..conftest import PASSWORD, make_actor
from .fixtures import CJK, TIMEOUT_MS  # noqa: F401 - used by the browser tests

# --- Steps people take ------------------------------------------------------------------


def log_in(page: Page, username: str, password: str = PASSWORD, next_path: str = "") -> None:
    """Through the real login form, as a person does."""
    page.goto(f"/accounts/login/?next={next_path}" if next_path else "/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def staff_page(new_context, role: str) -> Page:
    """A member of staff with `role`, logged in through the login form in a context of their own."""
    actor = make_actor(role)
    page = new_context().new_page()
    log_in(page, actor.user.username)
    return page


def fill_report(
    page: Page,
    workstation: Asset,
    *,
    symptom: str,
    system_pk: int | None = None,
    text: str = "",
    phone: str = "",
    name: str = "",
) -> None:
    page.goto(f"/r/{workstation.report_token}/")
    page.locator(f"input[name=symptom][value={symptom}]").check()
    if system_pk is not None:
        page.locator("select[name=system]").select_option(str(system_pk))
    if text:
        page.locator("textarea[name=text]").fill(text)
    if phone:
        page.locator("input[name=contact_phone]").fill(phone)
    if name:
        page.locator("input[name=reporter_name]").fill(name)


def send_report(page: Page) -> str:
    """Submit the filled report form; returns the tracking number the status page shows."""
    page.locator("#report-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/s/[^/]+/$"))
    tracking = page.locator("#tracking-number")
    expect(tracking).to_have_text(re.compile(r"^\d{10,}$"))
    return tracking.inner_text().strip()


def report_from(page: Page, workstation: Asset, symptom: str = "cannot_enter", **fields) -> str:
    fill_report(page, workstation, symptom=symptom, **fields)
    return send_report(page)


def require_htmx(page: Page) -> None:
    assert page.evaluate("typeof window.htmx") == "object", (
        f"htmx is not loaded on {page.url}: is /static/vendor/htmx.min.js served?"
    )


def refresh_console(page: Page) -> None:
    """Do now what the console's `every 5s` poll would do: swap in /console/live/ with htmx."""
    require_htmx(page)
    page.evaluate("htmx.ajax('GET', '/console/live/', {target: '#console-live', swap: 'innerHTML'})")


def refresh_status(page: Page) -> None:
    """Do now what the status page's `every 15s` poll would do."""
    require_htmx(page)
    page.evaluate(
        "htmx.ajax('GET', document.querySelector('#status-live').getAttribute('hx-get'),"
        " {target: '#status-live', swap: 'innerHTML'})"
    )


def mark_document(page: Page) -> None:
    """Tag the loaded document, so a later check can tell a partial swap from a reload."""
    page.evaluate("window.__hisguardSameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__hisguardSameDocument === true"), "the page was reloaded, not swapped"
