"""Who sees what in the browser, and the language switch in the top bar."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from hisguard.core import roles
from hisguard.incidents.models import Status
from hisguard.reporting.actions import ReportInput, submit_report

from ..conftest import PASSWORD, make_actor
from .conftest import CJK

pytestmark = pytest.mark.browser

POST_AS_THE_PAGE = """async (url) => {
    const headers = JSON.parse(document.body.getAttribute('hx-headers'));
    const response = await fetch(url, {
        method: 'POST', headers, body: new URLSearchParams({status: 'resolved', message: 'x'}),
    });
    return response.status;
}"""


def test_anonymous_visitor_of_the_console_is_sent_to_the_login_page(page: Page):
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/console/$"))
    expect(page.locator("input[name=username]")).to_be_visible()
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.locator("#console-live")).to_have_count(0)


def test_leadership_sees_the_console_but_cannot_move_an_incident(page: Page, tiny):
    incident = submit_report(ReportInput(symptom="cannot_enter", workstation=tiny.ws("PC-C1-1"))).incident
    leader = make_actor(roles.LEADERSHIP).user

    page.goto(f"/incidents/{incident.pk}/")  # a link from a message, before logging in
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    page.locator("input[name=username]").fill(leader.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**/incidents/{incident.pk}/")

    expect(page.locator("#incident-status")).to_have_class(re.compile(r"\bs-reported\b"))
    for form in ("#status-form", "#note-form", "#maintenance-form", "#class-form"):
        expect(page.locator(form)).to_have_count(0)
    # The server refuses too, whatever the page offers.
    assert page.evaluate(POST_AS_THE_PAGE, f"/incidents/{incident.pk}/status/") == 403
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED

    page.goto("/console/")
    expect(page.locator("#console-live")).to_be_visible()
    expect(page.locator("#open-incidents")).to_contain_text(incident.number)
    expect(page.locator("form.asset-down")).to_have_count(0)
    expect(page.locator("#unattached form")).to_have_count(0)


def test_the_language_select_switches_to_english_and_back(page: Page, tiny):
    ws = tiny.ws("PC-A1-1")
    page.goto(f"/r/{ws.report_token}/")
    here = re.compile(rf"/r/{re.escape(ws.report_token)}/$")
    html, heading = page.locator("html"), page.locator("main h1")
    language = page.locator("header.topbar select[name=language]")
    cannot_enter = page.locator("label.choice", has=page.locator("input[value=cannot_enter]"))

    expect(html).to_have_attribute("lang", "zh-hans")
    expect(language).to_have_value("zh-hans")
    expect(heading).to_have_text(CJK)
    expect(cannot_enter).to_have_text(CJK)

    with page.expect_navigation():
        language.select_option("en")
    expect(page).to_have_url(here)
    expect(html).to_have_attribute("lang", "en")
    expect(language).to_have_value("en")
    expect(heading).to_have_text("Report a fault to IT")
    expect(cannot_enter).to_have_text("Cannot enter the program")

    page.goto(f"/r/{ws.report_token}/")  # the choice sticks
    expect(html).to_have_attribute("lang", "en")

    with page.expect_navigation():
        language.select_option("zh-hans")
    expect(page).to_have_url(here)
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(heading).to_have_text(CJK)
    expect(heading).not_to_have_text("Report a fault to IT")
    expect(cannot_enter).to_have_text(CJK)
