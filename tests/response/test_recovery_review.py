"""Recovery (恢复与重建) and the post-incident review (事后总结), its HTML and Chinese PDF."""

from __future__ import annotations

import datetime
import io
import re

import pypdfium2 as pdfium
import pytest
import time_machine
from django.utils import timezone

from hisguard.core import audit
from hisguard.core.errors import DomainError
from hisguard.incidents.models import Status, TimelineEntry
from hisguard.incidents.timeline import headline
from hisguard.paging.models import EscalationRun, Notification
from hisguard.response import actions, pdf
from hisguard.response.models import Review, SystemRecovery

from .conftest import T0, class_i, class_iii, confirm, move, user

Kind = TimelineEntry.Kind
MIN = datetime.timedelta(minutes=1)


def _recover(incident, actor, *, backup="RMAN 全备 02:00 + 归档日志"):
    recovery = SystemRecovery.objects.get(incident=incident)
    with audit.acting_as(actor):
        actions.record_recovery(
            recovery,
            backup_used=backup,
            restore_point=recovery.down_since - 4 * MIN,
            restored_at=timezone.now(),
        )
        for check in recovery.checks.all():
            actions.check_item(check, result="正常")
        actions.verify_recovery(recovery)
    recovery.refresh_from_db()
    return recovery


def test_recovery_checklist_backup_data_loss_window_and_restored_broadcast(plans):
    head = user("it_head")
    with time_machine.travel(T0, tick=False) as clock:
        incident = confirm(class_i(plans.tiny), head)
        move(incident, Status.RESPONDING, head)
        clock.shift(40 * MIN)
        move(incident, Status.RECOVERING, head)  # the checklist starts for every system down
        recovery = SystemRecovery.objects.get(incident=incident)
        assert recovery.system.code == "HIS" and recovery.down_since == T0
        texts = [c.text for c in recovery.checks.all()]
        assert any("数据库一致性" in t for t in texts) and any("挂号" in t for t in texts)  # common + HIS
        with audit.acting_as(head):
            with pytest.raises(DomainError, match="not verified"):
                actions.announce_restored(incident, user=head)
            with pytest.raises(DomainError, match="restored first"):
                actions.verify_recovery(recovery)
            with pytest.raises(DomainError, match="before the system went down"):
                actions.record_recovery(recovery, restored_at=T0 - 5 * MIN)
            with pytest.raises(DomainError, match="backup"):
                actions.record_recovery(recovery, restore_point=T0 - 5 * MIN)
            with pytest.raises(DomainError, match="future"):
                actions.record_recovery(recovery, backup_used="x", restored_at=timezone.now() + 10 * MIN)
            actions.record_recovery(recovery, backup_used="x", restored_at=timezone.now())
            with pytest.raises(DomainError, match="checks"):
                actions.verify_recovery(recovery)
        recovery = _recover(incident, head)
        assert recovery.data_loss_minutes == 4 and recovery.rpo_met  # RPO 15 min
        assert recovery.downtime_minutes == 40 and recovery.rto_met  # RTO 240 min

        leader_person = plans.people["nurse"]
        leader_person.position = "head_nurse"
        with audit.acting_as(head):
            count = actions.announce_restored(incident, user=head)
    assert count >= 1
    assert Notification.objects.filter(incident=incident, kind=Notification.Kind.BROADCAST).exists()
    announced = incident.timeline.filter(kind=Kind.RECOVERY, data__event="announced").get()
    assert announced.public and "HIS" in announced.text
    assert incident.timeline.filter(kind=Kind.BROADCAST).exists()
    events = list(incident.timeline.filter(kind=Kind.RECOVERY).values_list("data__event", flat=True))
    assert events[0] == "started" and "verified" in events and events[-1] == "announced"
    assert "4" in headline(incident.timeline.filter(kind=Kind.RECOVERY, data__event="recorded").last())


def test_only_command_may_announce_a_class_i_recovery(plans):
    admin = user("network_admin")
    incident = confirm(class_i(plans.tiny))
    move(incident, Status.RESPONDING)
    move(incident, Status.RECOVERING)
    _recover(incident, admin)
    with pytest.raises(DomainError) as error, audit.acting_as(admin):
        actions.announce_restored(incident, user=admin)
    assert error.value.status == 403


def test_the_eta_is_set_for_the_status_page(plans):
    incident = confirm(class_i(plans.tiny))
    with pytest.raises(DomainError, match="past"):
        actions.set_eta(incident, timezone.now() - datetime.timedelta(hours=1))
    eta = timezone.now() + datetime.timedelta(hours=2)
    actions.set_eta(incident, eta, note="厂商评估两小时")
    incident.refresh_from_db()
    assert incident.expected_recovery_at == eta
    assert incident.timeline.filter(kind=Kind.RECOVERY, data__event="eta", public=True).exists()


def test_measures_against_targets_and_rto(plans):
    head = user("it_head")
    with time_machine.travel(T0, tick=False) as clock:
        incident = class_i(plans.tiny)
        EscalationRun.objects.create(
            incident=incident,
            hospital_class=1,
            snapshot={},
            started_at=T0,
            state=EscalationRun.State.ACKNOWLEDGED,
            acknowledged_at=T0 + 3 * MIN,
        )
        clock.shift(12 * MIN)
        incident = confirm(incident, head)
        clock.shift(30 * MIN)
        move(incident, Status.RESPONDING, head)
        move(incident, Status.RECOVERING, head)
        _recover(incident, head)
        move(incident, Status.RESOLVED, head)
        with audit.acting_as(head):
            actions.save_review(
                incident, began_at=T0 - 6 * MIN, root_cause="数据库归档日志写满", lessons="监控归档空间"
            )
    measures = {m.key: m for m in actions.measures(incident)}
    assert (measures["detect"].minutes, measures["detect"].met) == (6, True)  # target 10
    assert (measures["acknowledge"].minutes, measures["acknowledge"].met) == (3, True)  # target 5 for class I
    # The first class decision was when the database went down (opening as class I at once).
    assert measures["classify"].minutes == 0
    assert measures["recover"].minutes == 48 and measures["recover"].target == 240


def test_review_finalised_with_follow_ups_tracked_until_done(plans):
    head = user("it_head")
    incident = confirm(class_i(plans.tiny), head)
    with audit.acting_as(head):
        actions.save_review(incident, summary="数据库宕机 48 分钟")
        with pytest.raises(DomainError, match="resolved"):
            actions.finalize_review(incident)
        with pytest.raises(DomainError, match="past"):
            actions.add_follow_up(
                incident,
                description="加监控",
                owner=plans.people["admin"],
                due_date=datetime.date(2020, 1, 1),
            )
        action = actions.add_follow_up(
            incident,
            description="归档空间加入监控",
            owner=plans.people["admin"],
            due_date=timezone.localdate() + datetime.timedelta(days=7),
        )
    for status in (Status.RESPONDING, Status.RECOVERING, Status.RESOLVED):
        move(incident, status, head)
    with audit.acting_as(head):
        with pytest.raises(DomainError, match="root cause"):
            actions.finalize_review(incident)
        actions.save_review(incident, summary="数据库宕机", root_cause="归档满", lessons="监控归档")
        review = actions.finalize_review(incident)
        with pytest.raises(DomainError, match="final"):
            actions.save_review(incident, summary="改")
        assert review.state == Review.State.FINAL
        with pytest.raises(DomainError, match="how"):
            actions.close_follow_up(action, note="")
        actions.close_follow_up(action, note="已加入 Zabbix 监控项")
    action.refresh_from_db()
    assert action.state == "done" and action.done_label == "it_head"
    events = list(incident.timeline.filter(kind=Kind.TASK).values_list("data__event", flat=True))
    assert {"review_started", "follow_up", "review_final", "follow_up_done"} <= set(events)


def _finished_review(plans):
    head = user("it_head")
    incident = confirm(class_i(plans.tiny), head)
    for status in (Status.RESPONDING, Status.RECOVERING):
        move(incident, status, head)
    _recover(incident, head)
    move(incident, Status.RESOLVED, head)
    with audit.acting_as(head):
        actions.save_review(
            incident,
            summary="数据库服务器宕机，全院HIS中断",
            root_cause="归档日志空间写满",
            lessons="归档空间纳入监控；每季度演练",
        )
        actions.add_follow_up(
            incident, description="归档空间监控", owner=plans.people["admin"], due_date=timezone.localdate()
        )
    return head, incident


def test_review_exports_as_html(plans, client):
    head, incident = _finished_review(plans)
    client.force_login(head)
    response = client.get(
        f"/incidents/{incident.pk}/review/export.html?download=1", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    html = response.content.decode()
    assert "归档日志空间写满" in html and incident.number in html and "<style>" in html
    assert 'href="/static' not in html  # self-contained


def _cjk_ink(image) -> int:
    return sum(image.convert("L").histogram()[:128])


def test_review_pdf_is_chinese_with_the_font_embedded(plans, client, screenshot_dir):
    head, incident = _finished_review(plans)
    client.force_login(head)
    response = client.get(f"/incidents/{incident.pk}/review/export.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    data = response.content
    assert data.startswith(b"%PDF")
    # The Noto CJK font is embedded (as a subset), not referenced.
    assert re.search(rb"/FontFile[23]?", data) and b"NotoSansCJK" in data
    document = pdfium.PdfDocument(io.BytesIO(data))
    assert len(document) >= 1
    text = document[0].get_textpage().get_text_range()
    assert "归档日志空间写满" in text or "全院HIS中断" in text
    assert incident.number in text
    image = document[0].render(scale=1.5).to_pil()
    image.save(screenshot_dir / "review-pdf-page-1.png")
    assert image.width > 800 and _cjk_ink(image) > 2000  # the page has text drawn on it


def test_pdf_without_the_font_says_what_to_install(plans, settings):
    _head, incident = _finished_review(plans)
    settings.HISGUARD_PDF_FONT = "/nonexistent/font.ttc"
    from hisguard.response.views import _review_context

    with pytest.raises(DomainError, match="fonts-noto-cjk"):
        pdf.review_pdf(_review_context(incident))


def test_class_iii_recovery_without_command(plans):
    admin = user("network_admin")
    incident = confirm(class_iii(plans.tiny), admin)
    move(incident, Status.RECOVERING, admin)
    _recover(incident, admin)
    with audit.acting_as(admin):
        assert actions.announce_restored(incident, "PC-A1-1 已恢复", user=admin) >= 0
