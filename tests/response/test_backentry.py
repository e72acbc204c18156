"""Manual procedures, temporary numbers, paper records, back-entry (补录) and the closing rules."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from hisguard.core import audit
from hisguard.core.errors import DomainError
from hisguard.core.models import AuditLog
from hisguard.incidents import actions as incident_actions
from hisguard.incidents.models import Incident, Status, TimelineEntry
from hisguard.response import actions
from hisguard.response.models import DowntimeRecord, TempNumberRange

from .conftest import T0, class_i, class_ii, class_iii, confirm, move, user

Kind = TimelineEntry.Kind


def test_procedures_of_the_affected_departments_with_when_to_switch(plans):
    with time_machine.travel(T0, tick=False) as clock:
        incident = class_i(plans.tiny)
        rows = dict(actions.procedures_for(incident))
        assert {d.code for d in rows} == {"DA1", "DA2", "DB1", "DB2", "DC1", "DC2"}
        registration = next(
            p for p in rows[plans.tiny.departments["DA1"]] if p.procedure.code == "registration"
        )
        assert registration.switch_at == incident.opened_at + datetime.timedelta(minutes=15)
        assert not registration.switched
        clock.shift(datetime.timedelta(minutes=16))
        registration = next(
            p
            for d, ps in actions.procedures_for(incident)
            if d.code == "DA1"
            for p in ps
            if p.procedure.code == "registration"
        )
        assert registration.switched


def test_a_network_fault_shows_all_procedures_of_the_departments_behind_it(plans):
    incident = incident_actions.mark_asset_down(plans.tiny.assets["SW-C1"])
    assert not incident.systems.exists()
    rows = dict(actions.procedures_for(incident))
    assert [d.code for d in rows] == ["DC1"] and rows[plans.tiny.departments["DC1"]]


def test_temporary_number_ranges_never_overlap(plans):
    hospital, da1, db1 = plans.tiny.hospital, plans.tiny.departments["DA1"], plans.tiny.departments["DB1"]
    actions.reserve_range(hospital, da1, kind="outpatient", prefix="T", first=900001, last=900500)
    with pytest.raises(DomainError) as error:
        actions.reserve_range(hospital, db1, kind="outpatient", prefix="T", first=900400, last=900900)
    assert error.value.code == "range_overlap" and "A楼科室1" in str(error.value)
    with pytest.raises(DomainError, match="greater"):
        actions.reserve_range(hospital, db1, kind="outpatient", prefix="T", first=5, last=1)
    with pytest.raises(DomainError, match="prefix"):
        actions.reserve_range(hospital, db1, kind="outpatient", prefix="T 1", first=1, last=5)
    # Another prefix is another series.
    actions.reserve_range(hospital, db1, kind="inpatient", prefix="Z", first=900400, last=900900)
    assert TempNumberRange.objects.count() == 2


def _paper(incident, department, **extra):
    values = {
        "kind": "registration",
        "count": 35,
        "occurred_at": timezone.now() - datetime.timedelta(minutes=5),
        "performed_by": "挂号员 孙",
    }
    values.update(extra)
    return actions.record_paper_work(incident, department, **values)


def test_paper_records_check_their_temporary_numbers(plans):
    hospital, da1 = plans.tiny.hospital, plans.tiny.departments["DA1"]
    actions.reserve_range(hospital, da1, kind="outpatient", prefix="T", first=900001, last=900500)
    incident = confirm(class_i(plans.tiny))
    with pytest.raises(DomainError, match="T900600"):
        _paper(incident, da1, temp_numbers="T900001-T900600")
    with pytest.raises(DomainError, match="future"):
        _paper(incident, da1, occurred_at=timezone.now() + datetime.timedelta(hours=1))
    with pytest.raises(DomainError, match="who"):
        _paper(incident, da1, performed_by=" ")
    with pytest.raises(DomainError, match="count"):
        _paper(incident, da1, count=0)
    assert not DowntimeRecord.objects.exists()
    record = _paper(incident, da1, temp_numbers="t900001-t900035")
    assert record.temp_numbers == "T900001-T900035"
    assert incident.timeline.filter(kind=Kind.TASK, data__event="paper").exists()


def test_back_entry_keeps_the_original_time_and_who_entered_it_for_whom(plans):
    admin = user("network_admin")
    incident = confirm(class_i(plans.tiny))
    original = timezone.now() - datetime.timedelta(minutes=20)
    record = _paper(incident, plans.tiny.departments["DA1"], occurred_at=original)
    with pytest.raises(DomainError, match="once the system is back"):
        actions.mark_entered(record)
    move(incident, Status.RESPONDING)
    move(incident, Status.RECOVERING)
    with audit.acting_as(admin):
        actions.mark_entered(record, on_behalf_of="挂号员 孙")
    record.refresh_from_db()
    assert record.state == "entered" and record.occurred_at == original
    assert (record.entered_by, record.entered_on_behalf_of) == (admin, "挂号员 孙")
    entry = incident.timeline.filter(data__event="back_entered").get()
    assert entry.actor == admin and entry.data["on_behalf_of"] == "挂号员 孙"
    log = AuditLog.objects.get(action="response.backentry.entered")
    assert log.actor == admin and log.details["original"] == original.isoformat()


def _to_resolved(incident: Incident, actor) -> Incident:
    for status in (Status.RESPONDING, Status.RECOVERING, Status.RESOLVED):
        incident = move(incident, status, actor)
    return incident


def test_outstanding_back_entry_blocks_closing_until_entered_or_waived(plans):
    head = user("it_head")
    incident = confirm(class_i(plans.tiny), head)
    da1, db1 = plans.tiny.departments["DA1"], plans.tiny.departments["DB1"]
    first = _paper(incident, da1, count=12)
    _paper(incident, db1, count=3, kind="order")
    incident = _to_resolved(incident, head)
    with pytest.raises(DomainError) as error:
        move(incident, Status.CLOSED, head)
    assert error.value.code == "backentry_outstanding" and "15" in str(error.value)
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED
    with audit.acting_as(head):
        actions.mark_entered(first)
        with pytest.raises(DomainError, match="reason"):
            actions.waive_backentry(incident, reason=" ")
        waiver = actions.waive_backentry(
            incident, reason="医嘱已由科室在纸质病历归档，无需补录", department=db1
        )
    assert waiver.count == 3 and waiver.waived_by == head
    assert [r.department.pk for r in actions.backentry_checklist(incident) if r.waived] == [db1.pk]
    closed = move(incident, Status.CLOSED, head)
    assert closed.status == Status.CLOSED
    assert AuditLog.objects.filter(action="response.backentry.waive", actor=head).exists()


def test_class_iii_closes_only_with_a_maintenance_log_entry(plans):
    admin = user("network_admin")
    incident = confirm(class_iii(plans.tiny), admin)
    incident = move(incident, Status.RESOLVED, admin)
    with pytest.raises(DomainError) as error:
        move(incident, Status.CLOSED, admin)
    assert error.value.code == "maintenance_log_required"
    incident_actions.record_maintenance(
        incident, plans.tiny.ws("PC-A1-1"), user=admin, fault="网线松动", action="重新压接水晶头"
    )
    assert move(incident, Status.CLOSED, admin).status == Status.CLOSED


def test_an_active_emergency_keeps_the_incident_open(plans):
    head, leader = user("it_head"), user("leadership")
    incident = confirm(class_ii(plans.tiny), head)
    with audit.acting_as(leader):
        actions.declare_emergency(incident, signed_by="张院长", basis="B楼网络中断")
    incident = _to_resolved(incident, head)
    with pytest.raises(DomainError) as error:
        move(incident, Status.CLOSED, head)
    assert error.value.code == "emergency_active"
    with audit.acting_as(leader):
        actions.end_emergency(incident, signed_by="张院长", summary="恢复")
    assert move(incident, Status.CLOSED, head).status == Status.CLOSED
