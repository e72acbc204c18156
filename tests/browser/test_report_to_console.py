"""From the nurse's workstation page to the triage console and back, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from hisguard.core import roles
from hisguard.incidents.models import Incident, MaintenanceLog, Status
from hisguard.reporting.actions import ReportInput, submit_report
from hisguard.reporting.models import Channel, FaultReport

from .conftest import (
    assert_same_document,
    fill_report,
    mark_document,
    refresh_console,
    refresh_status,
    report_from,
    send_report,
    staff_page,
)

pytestmark = pytest.mark.browser


def has_class(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def open_incident_from_console(page: Page, incident: Incident) -> None:
    page.goto("/console/")
    page.locator("#open-incidents").get_by_role("link", name=incident.number, exact=True).click()
    page.wait_for_url(f"**/incidents/{incident.pk}/")


def move_to(page: Page, status: str, message: str = "") -> None:
    form = page.locator("#status-form")
    form.locator("select[name=status]").select_option(status)
    if message:
        form.locator("textarea[name=message]").fill(message)
    with page.expect_navigation():
        form.locator("button").click()


def test_nurse_reports_from_her_workstation_in_one_go(page: Page, tiny, screenshot_dir):
    ws, his = tiny.ws("PC-A1-1"), tiny.systems["HIS"]
    fill_report(
        page,
        ws,
        symptom="cannot_enter",
        system_pk=his.pk,
        text="HIS 点不开，提示连接超时",
        phone="8001",
        name="王护士",
    )
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("p.where")).to_contain_text("PC-A1-1")
    expect(page.locator("p.where")).to_contain_text("A楼科室1")
    page.screenshot(path=screenshot_dir / "report-page.png", full_page=True)

    tracking = send_report(page)

    report = FaultReport.objects.select_related("incident").get(tracking_number=tracking)
    assert page.url.endswith(f"/s/{report.status_token}/")
    assert (report.workstation_id, report.channel, report.symptom, report.system_id) == (
        ws.pk,
        Channel.WORKSTATION,
        "cannot_enter",
        his.pk,
    )
    assert (report.text, report.contact_phone, report.reporter_name) == (
        "HIS 点不开，提示连接超时",
        "8001",
        "王护士",
    )
    assert report.incident is not None and report.incident.hospital_class == 3
    expect(page.locator("#status-live")).to_contain_text(report.incident.number)
    expect(page.locator("#incident-status")).to_have_class(has_class("s-reported"))
    page.screenshot(path=screenshot_dir / "status-page.png", full_page=True)


def test_the_report_appears_on_the_open_console_by_a_live_swap(new_context, tiny, screenshot_dir):
    admin = staff_page(new_context, roles.NETWORK_ADMIN)  # the login form lands on the console
    expect(admin).to_have_url(re.compile(r"/console/$"))
    expect(admin.locator("#open-incidents")).to_have_count(0)
    mark_document(admin)

    nurse = new_context().new_page()
    tracking = report_from(
        nurse,
        tiny.ws("PC-A1-1"),
        "cannot_enter",
        system_pk=tiny.systems["HIS"].pk,
        text="进不去",
        phone="8001",
    )
    incident = FaultReport.objects.get(tracking_number=tracking).incident

    refresh_console(admin)
    rows = admin.locator("#open-incidents tbody tr")
    expect(rows).to_have_count(1)
    row = rows.filter(has_text=incident.number)
    expect(row).to_have_class(has_class("row-c3"))
    expect(row.locator(".badge.c3")).to_have_text("III")
    expect(admin.locator(".counter.c3 strong")).to_have_text("1")
    expect(admin.locator("#latest-reports")).to_contain_text(tracking)
    assert_same_document(admin)
    admin.screenshot(path=screenshot_dir / "console.png", full_page=True)


def test_confirmation_and_feedback_reach_the_nurse(new_context, tiny):
    nurse = new_context().new_page()
    tracking = report_from(nurse, tiny.ws("PC-A1-1"), "cannot_save", system_pk=tiny.systems["HIS"].pk)
    incident = FaultReport.objects.get(tracking_number=tracking).incident
    mark_document(nurse)
    expect(nurse.locator("#feedback")).to_have_count(0)

    admin = staff_page(new_context, roles.NETWORK_ADMIN)
    open_incident_from_console(admin, incident)
    move_to(admin, Status.CONFIRMED, "信息科已确认，正在处理")
    expect(admin.locator("#incident-status")).to_have_class(has_class("s-confirmed"))
    expect(admin.locator(".messages li.success")).to_have_count(1)

    refresh_status(nurse)  # what the status page's poll does, without waiting 15 s for it
    expect(nurse.locator("#incident-status")).to_have_class(has_class("s-confirmed"))
    expect(nurse.locator("#feedback")).to_contain_text("信息科已确认，正在处理")
    assert_same_document(nurse)

    note = admin.locator("#note-form")
    note.locator("textarea[name=text]").fill("交换机端口已更换，请重启电脑后再试")
    note.locator("input[name=public]").check()
    with admin.expect_navigation():
        note.locator("button").click()
    expect(admin.locator("#timeline")).to_contain_text("交换机端口已更换")
    note.locator("textarea[name=text]").fill("内部备注：备用交换机已领用")  # not public
    with admin.expect_navigation():
        note.locator("button").click()
    expect(admin.locator("#timeline")).to_contain_text("内部备注")

    nurse.reload()
    expect(nurse.locator("#incident-status")).to_have_class(has_class("s-confirmed"))
    expect(nurse.locator("#feedback li")).to_have_count(2)
    expect(nurse.locator("#feedback li").first).to_contain_text("交换机端口已更换，请重启电脑后再试")
    expect(nurse.locator("#feedback")).to_contain_text("信息科已确认，正在处理")
    expect(nurse.locator("body")).not_to_contain_text("内部备注")
    incident.refresh_from_db()
    assert incident.status == Status.CONFIRMED and incident.confirmed_at is not None


def test_class_iii_closes_only_after_a_maintenance_log(new_context, tiny):
    ws = tiny.ws("PC-B1-1")
    incident = submit_report(ReportInput(symptom="cannot_save", workstation=ws)).incident
    assert incident.hospital_class == 3

    admin = staff_page(new_context, roles.NETWORK_ADMIN)
    open_incident_from_console(admin, incident)
    move_to(admin, Status.RESOLVED, "重装客户端后恢复")
    expect(admin.locator("#incident-status")).to_have_class(has_class("s-resolved"))

    move_to(admin, Status.CLOSED)
    with translation.override("zh-hans"):
        refusal = gettext(
            "A class III incident is closed only after a maintenance-log entry says what was done."
        )
    expect(admin.locator(".messages li.error")).to_have_text(refusal)
    expect(admin.locator("#incident-status")).to_have_class(has_class("s-resolved"))
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED

    form = admin.locator("#maintenance-form")
    form.locator("select[name=asset]").select_option(str(ws.pk))
    form.locator("[name=fault]").fill("HIS 客户端损坏")
    form.locator("[name=action]").fill("重装 HIS 客户端")
    form.locator("[name=result]").fill("恢复正常")
    with admin.expect_navigation():
        form.locator("button").click()
    expect(admin.locator("p.small", has_text="重装 HIS 客户端")).to_have_count(1)

    move_to(admin, Status.CLOSED)
    expect(admin.locator("#incident-status")).to_have_class(has_class("s-closed"))
    expect(admin.locator(".messages li.error")).to_have_count(0)
    expect(admin.locator("#status-form")).to_have_count(0)  # nowhere left to go
    incident.refresh_from_db()
    assert incident.status == Status.CLOSED and incident.closed_at is not None
    assert MaintenanceLog.objects.filter(incident=incident, asset=ws).count() == 1


def test_two_pcs_behind_one_access_switch_show_as_one_class_ii_incident(new_context, tiny):
    assert tiny.ws("PC-A1-1").upstream_id == tiny.ws("PC-A1-2").upstream_id
    admin = staff_page(new_context, roles.NETWORK_ADMIN)
    rows = admin.locator("#open-incidents tbody tr")

    report_from(new_context().new_page(), tiny.ws("PC-A1-1"), "no_network")
    refresh_console(admin)
    expect(rows).to_have_count(1)
    expect(rows.locator(".badge")).to_have_text("III")

    report_from(new_context().new_page(), tiny.ws("PC-A1-2"), "no_network")
    refresh_console(admin)
    expect(rows.locator(".badge.c2")).to_have_text("II")
    expect(rows).to_have_count(1)
    expect(rows.locator("td").nth(4)).to_have_text("2")  # reports
    expect(admin.locator(".counter.c1 strong")).to_have_text("0")
    expect(admin.locator(".counter.c2 strong")).to_have_text("1")
    expect(admin.locator(".counter.c3 strong")).to_have_text("0")
    incident = Incident.objects.get()
    assert incident.hospital_class == 2 and incident.reports.count() == 2
