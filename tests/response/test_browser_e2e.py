"""One incident of each class, end to end in Debian's chromium: confirm → playbook → manual
procedures shown → recovery → review → PDF."""

from __future__ import annotations

import datetime
import io
import re

import pypdfium2 as pdfium
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from hisguard.incidents.models import Incident, IncidentAsset, Status, TimelineEntry
from hisguard.response.models import DowntimeRecord, EmergencyDeclaration, Review, StepRun, SystemRecovery
from tests.browser.conftest import staff_page

from .conftest import class_i, class_ii, class_iii

pytestmark = pytest.mark.browser

Kind = TimelineEntry.Kind


def submit(page: Page, button) -> None:
    with page.expect_navigation():
        button.click()
    errors = page.locator(".messages li.error")
    assert errors.count() == 0, errors.all_inner_texts()


def move_to(page: Page, status: str) -> None:
    form = page.locator("#status-form")
    form.locator("select[name=status]").select_option(status)
    submit(page, form.locator("button"))


def local(at: datetime.datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def backdate(incident: Incident, minutes: int = 60) -> Incident:
    """The fault began an hour ago (so the recovery's times are plausible to the minute)."""
    delta = datetime.timedelta(minutes=minutes)
    Incident.objects.filter(pk=incident.pk).update(
        opened_at=incident.opened_at - delta, last_evidence_at=incident.last_evidence_at - delta
    )
    for link in IncidentAsset.objects.filter(incident=incident):
        IncidentAsset.objects.filter(pk=link.pk).update(since=link.since - delta)
    return Incident.objects.get(pk=incident.pk)


def work_playbook(page: Page, incident: Incident) -> None:
    expect(page.locator("#playbook-name")).to_be_visible()
    runs = list(StepRun.objects.filter(incident=incident).order_by("order"))
    assert runs, "no playbook was attached on confirmation"
    first = runs[0]
    row = page.locator(f"#step-{first.pk}")
    row.locator("textarea[name=evidence]").fill("现场确认，已截图")
    submit(page, row.locator("button[name=done]"))
    expect(page.locator(f"#step-{first.pk}")).to_have_class(re.compile(r"step-done"))


def recover(page: Page, incident: Incident, system: str = "HIS") -> None:
    section = page.locator(f"#recovery-{system}")
    expect(section).to_be_visible()
    recovery = SystemRecovery.objects.get(incident=incident, system__code=system)
    form = section.locator("form.recovery-form")
    form.locator("input[name=backup_used]").fill("全备 02:00 + 归档日志")
    form.locator("input[name=restore_point]").fill(local(recovery.down_since - datetime.timedelta(minutes=5)))
    form.locator("input[name=restored_at]").fill(local(timezone.now()))
    submit(page, form.locator("button"))
    checks = recovery.checks.count()
    for _ in range(checks):
        pending = page.locator(f"#recovery-{system} .check-form:has(input[name=result])").first
        pending.locator("input[name=result]").fill("正常")
        submit(page, pending.locator("button"))
    assert not recovery.checks.filter(done=False).exists()
    submit(page, page.locator(f"#recovery-{system} .verify-form button"))
    expect(page.locator(f"#recovery-{system} .ok-badge")).to_be_visible()
    submit(page, page.locator("#announce-form button"))


def review_and_pdf(page: Page, incident: Incident, screenshot_dir, name: str) -> None:
    page.goto(f"/incidents/{incident.pk}/review/")
    form = page.locator("#review-form")
    form.locator("textarea[name=summary]").fill("HIS 中断，科室转手工流程，系统恢复后补录。")
    form.locator("textarea[name=root_cause]").fill("数据库归档日志空间写满")
    form.locator("textarea[name=lessons]").fill("归档空间纳入监控；每季度演练一次")
    submit(page, form.locator("button[name=finalize]"))
    expect(page.locator("#review-state")).not_to_have_text("")
    assert Review.objects.get(incident=incident).state == Review.State.FINAL
    follow = page.locator("#follow-up-form")
    follow.locator("input[name=description]").fill("归档空间加入监控项")
    follow.locator("select[name=owner]").select_option(index=1)
    follow.locator("input[name=due_date]").fill(
        (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    )
    submit(page, follow.locator("button"))
    expect(page.locator("#follow-ups")).to_contain_text("归档空间加入监控项")
    expect(page.locator("#measures tr[data-measure=recover]")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"review-{name}.png", full_page=True)

    html = page.request.get(page.locator("#export-html").get_attribute("href"))
    assert html.ok and "数据库归档日志空间写满" in html.text()
    response = page.request.get(page.locator("#export-pdf").get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(io.BytesIO(response.body()))
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    assert "数据库归档日志空间写满" in text and incident.number in text
    image = document[0].render(scale=1.5).to_pil()
    image.save(screenshot_dir / f"review-{name}-pdf.png")
    assert sum(image.convert("L").histogram()[:128]) > 2000


def test_class_i_database_down_end_to_end(plans, new_context, screenshot_dir):
    incident = backdate(class_i(plans.tiny))
    head = staff_page(new_context, "it_head")
    head.goto(f"/incidents/{incident.pk}/")
    move_to(head, Status.CONFIRMED)
    expect(head.locator("#playbook-name")).to_contain_text("数据库")
    work_playbook(head, incident)

    # Leadership declares the emergency and watches the command dashboard.
    leader = staff_page(new_context, "leadership")
    leader.goto(f"/incidents/{incident.pk}/")
    leader.locator("#declare-form input[name=signed_by]").fill("张院长")
    leader.locator("#declare-form textarea[name=basis]").fill("数据库宕机，全院HIS中断")
    submit(leader, leader.locator("#declare-form button"))
    expect(leader.locator("#emergency-state")).to_contain_text("张院长")
    leader.goto("/command/")
    board = leader.locator(f"#board-{incident.pk}")
    expect(board).to_contain_text("A楼")
    expect(board).to_contain_text("C楼")
    leader.screenshot(path=screenshot_dir / "command-dashboard.png", full_page=True)

    # The wards see their manual procedures on the status page.
    ward = new_context().new_page()
    ward.goto("/status/")
    procedures = ward.locator(f"#procedures-{incident.pk}")
    expect(procedures).to_contain_text("A楼科室1")
    expect(procedures).to_contain_text("门诊挂号与收费（手工）")
    ward.screenshot(path=screenshot_dir / "status-procedures.png", full_page=True)

    # A paper record during the downtime, entered after recovery.
    head.goto(f"/incidents/{incident.pk}/back-entry/")
    paper = head.locator("#paper-form")
    paper.locator("select[name=department]").select_option(label="A楼科室1")
    paper.locator("select[name=kind]").select_option("registration")
    paper.locator("input[name=count]").fill("12")
    paper.locator("input[name=performed_by]").fill("挂号员 孙")
    submit(head, paper.locator("button"))
    expect(head.locator("#outstanding-total")).to_contain_text("12")

    head.goto(f"/incidents/{incident.pk}/")
    move_to(head, Status.RESPONDING)
    move_to(head, Status.RECOVERING)
    recover(head, incident)
    head.goto(f"/incidents/{incident.pk}/back-entry/")
    submit(head, head.locator(".entered-form button").first)
    assert DowntimeRecord.objects.get(incident=incident).state == "entered"

    leader.goto(f"/incidents/{incident.pk}/")
    leader.locator("#end-emergency-form input[name=signed_by]").fill("张院长")
    leader.locator("#end-emergency-form textarea[name=summary]").fill("系统恢复，应急结束")
    submit(leader, leader.locator("#end-emergency-form button"))
    assert not EmergencyDeclaration.objects.get(incident=incident).is_active

    head.goto(f"/incidents/{incident.pk}/")
    move_to(head, Status.RESOLVED)
    head.screenshot(path=screenshot_dir / "incident-class-i-panel.png", full_page=True)
    review_and_pdf(head, incident, screenshot_dir, "class-i")
    kinds = set(incident.timeline.values_list("kind", flat=True))
    assert {Kind.TASK, Kind.RECOVERY, Kind.EMERGENCY, Kind.BROADCAST} <= kinds


def test_class_ii_area_network_end_to_end(plans, new_context, screenshot_dir):
    incident = backdate(class_ii(plans.tiny))
    assert incident.hospital_class == 2
    head = staff_page(new_context, "it_head")
    head.goto(f"/incidents/{incident.pk}/")
    move_to(head, Status.CONFIRMED)
    work_playbook(head, incident)

    ward = new_context().new_page()
    ward.goto("/status/")
    expect(ward.locator(f"#procedures-{incident.pk}")).to_contain_text("B楼科室1")

    head.goto(f"/incidents/{incident.pk}/")
    move_to(head, Status.RESPONDING)
    move_to(head, Status.RECOVERING)
    recover(head, incident)
    move_to(head, Status.RESOLVED)
    review_and_pdf(head, incident, screenshot_dir, "class-ii")


def test_class_iii_single_workstation_end_to_end(plans, new_context, screenshot_dir):
    incident = backdate(class_iii(plans.tiny))
    assert incident.hospital_class == 3
    admin = staff_page(new_context, "network_admin")
    admin.goto(f"/incidents/{incident.pk}/")
    move_to(admin, Status.CONFIRMED)
    expect(admin.locator("#playbook-name")).to_be_visible()
    assert incident.response_playbook.playbook.code == "workstation_fault"
    work_playbook(admin, incident)
    # Class III is not on the status page; the department's procedures are on the incident page.
    expect(admin.locator("#procedures .dept-procedures[data-department=DA1]")).to_contain_text("A楼科室1")
    move_to(admin, Status.RECOVERING)
    recover(admin, incident)
    move_to(admin, Status.RESOLVED)

    head = staff_page(new_context, "it_head")
    review_and_pdf(head, incident, screenshot_dir, "class-iii")
