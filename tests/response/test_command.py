"""Crisis team, emergency declaration, assessment and impact (应急响应, 事件评估)."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from hisguard.core import audit
from hisguard.core.errors import DomainError
from hisguard.core.models import AuditLog
from hisguard.incidents.models import Status, TimelineEntry
from hisguard.incidents.timeline import headline
from hisguard.response import actions
from hisguard.response.models import Assessment, CrisisAssignment, CrisisRole, EmergencyDeclaration

from .conftest import class_i, class_ii, class_iii, confirm, move, user

Kind = TimelineEntry.Kind


def test_roles_are_assigned_replaced_and_relieved_on_the_timeline(plans):
    head = user("it_head")
    incident = confirm(class_i(plans.tiny))
    people = plans.people
    with audit.acting_as(head):
        actions.assign_role(incident, CrisisRole.COMMANDER, people["leader"])
        actions.assign_role(incident, CrisisRole.TECHNICAL_LEAD, people["it_head"])
        actions.assign_role(incident, CrisisRole.COMMUNICATIONS, people["office"])
        actions.assign_role(incident, CrisisRole.SCRIBE, people["admin"])
        actions.assign_role(
            incident, CrisisRole.LIAISON, people["nurse"], department=plans.tiny.departments["DA1"]
        )
        with pytest.raises(DomainError, match="already has"):
            actions.assign_role(incident, CrisisRole.SCRIBE, people["admin"])
        with pytest.raises(DomainError, match="liaison"):
            actions.assign_role(
                incident, CrisisRole.SCRIBE, people["office"], department=plans.tiny.departments["DA1"]
            )
        actions.assign_role(incident, CrisisRole.TECHNICAL_LEAD, people["admin"])  # hand-over
    team = actions.current_team(incident)
    assert [a.person for a in team[CrisisRole.TECHNICAL_LEAD]] == [people["admin"]]
    assert CrisisAssignment.objects.filter(incident=incident, relieved_at__isnull=False).count() == 1
    headlines = [
        headline(e) for e in incident.timeline.filter(kind=Kind.TASK, data__event__startswith="role_")
    ]
    assert any("张院长" in h for h in headlines) and len(headlines) == 6
    assert AuditLog.objects.filter(action="response.team.assign", actor=head).count() == 6
    with audit.acting_as(head):
        actions.relieve(team[CrisisRole.SCRIBE][0])
    assert not actions.current_team(incident)[CrisisRole.SCRIBE]


def test_leadership_declares_and_ends_the_emergency_with_a_sign_off(plans):
    leader = user("leadership")
    incident = confirm(class_i(plans.tiny))
    with audit.acting_as(leader):
        with pytest.raises(DomainError, match="leader"):
            actions.declare_emergency(incident, signed_by=" ", basis="HIS 全院不可用")
        with pytest.raises(DomainError, match="Say why"):
            actions.declare_emergency(incident, signed_by="张院长", basis="")
        assert not EmergencyDeclaration.objects.exists()
        declaration = actions.declare_emergency(
            incident, signed_by="张院长", basis="HIS 全院不可用，启动一类预案"
        )
        with pytest.raises(DomainError, match="already active"):
            actions.declare_emergency(incident, signed_by="张院长", basis="again")
        # Not before the systems are back.
        with pytest.raises(DomainError, match="recovering or resolved"):
            actions.end_emergency(incident, signed_by="张院长", summary="结束")
    move(incident, Status.RESPONDING)
    move(incident, Status.RECOVERING)
    with audit.acting_as(leader):
        actions.end_emergency(incident, signed_by="张院长", summary="系统已恢复，应急结束")
    declaration.refresh_from_db()
    assert declaration.declared_by == leader and declaration.ended_by == leader
    assert declaration.end_signed_by == "张院长" and not declaration.is_active
    events = list(incident.timeline.filter(kind=Kind.EMERGENCY).values_list("data__event", flat=True))
    assert events == ["declared", "ended"]
    assert AuditLog.objects.filter(action__startswith="response.emergency.", actor=leader).count() == 2


def test_the_assessment_suggests_night_and_holiday_from_the_chinese_calendar(plans):
    # 2026-10-01 02:00 in Shanghai: National Day, at night.
    with time_machine.travel(datetime.datetime(2026, 9, 30, 18, 0, tzinfo=datetime.UTC), tick=False):
        incident = class_iii(plans.tiny)
    assert actions.suggested_conditions(incident) == {"night": True, "holiday": True}
    # Saturday 2026-10-10 is a make-up working day (调休): at 10:00 it is neither.
    with time_machine.travel(datetime.datetime(2026, 10, 10, 2, 0, tzinfo=datetime.UTC), tick=False):
        other = class_iii(plans.tiny)
    assert other.pk != incident.pk
    assert actions.suggested_conditions(other) == {"night": False, "holiday": False}


def test_special_conditions_raise_the_urgency_and_are_recorded(plans):
    incident = confirm(class_i(plans.tiny))
    with pytest.raises(DomainError):
        actions.save_assessment(incident, conditions={"full_moon": True})
    with pytest.raises(DomainError, match="whole number"):
        actions.save_assessment(incident, conditions={}, patients_affected=-3)
    assert not Assessment.objects.exists()
    assessment = actions.save_assessment(
        incident, conditions={"night": True, "high_volume": True}, patients_affected=320, notes="门诊高峰"
    )
    assert assessment.urgency == "high" and assessment.conditions == ["night", "high_volume"]
    entry = incident.timeline.filter(kind=Kind.TASK, data__event="assessment").get()
    assert "320" in headline(entry) and entry.text == "门诊高峰"
    # The continuity work can feed the count later; the conditions stay.
    actions.set_patients_affected(incident, 412)
    assessment.refresh_from_db()
    assert (assessment.patients_affected, assessment.patients_source, assessment.high_volume) == (
        412,
        "continuity",
        True,
    )


def test_impact_goes_from_systems_down_to_departments_by_building(plans):
    incident = class_i(plans.tiny)
    impact = actions.impact(incident)
    assert [s.code for s in impact.systems] == ["HIS"]
    assert [b.building.code for b in impact.buildings] == ["A", "B", "C"]
    assert sum(len(b.departments) for b in impact.buildings) == 6


def test_an_area_fault_touches_one_building(plans):
    area = actions.impact(class_ii(plans.tiny))
    assert [b.building.code for b in area.buildings] == ["B"]
    assert [d.code for d in area.buildings[0].departments] == ["DB1"]


def test_resources_needed_are_listed_and_arranged(plans):
    incident = confirm(class_i(plans.tiny))
    with pytest.raises(DomainError):
        actions.add_resource(incident, kind="people", description="", quantity=1)
    with pytest.raises(DomainError):
        actions.add_resource(incident, kind="people", description="工程师", quantity=0)
    need = actions.add_resource(incident, kind="vendor", description="数据库厂商工程师到场", quantity=2)
    actions.arrange_resource(need)
    with pytest.raises(DomainError):
        actions.arrange_resource(need)
    assert list(incident.timeline.filter(kind=Kind.TASK).values_list("data__event", flat=True))[-2:] == [
        "resource",
        "resource_arranged",
    ]


def test_contacts_are_called_and_the_calls_logged(plans):
    incident = confirm(class_i(plans.tiny))
    ordered = actions.contacts_for(incident)
    assert ordered[0] == plans.vendor  # the vendor of the system down first
    with pytest.raises(DomainError):
        actions.log_contact(incident, plans.vendor, channel="pigeon", summary="x")
    with pytest.raises(DomainError):
        actions.log_contact(incident, plans.vendor, channel="phone", summary="  ")
    actions.log_contact(
        incident, plans.vendor, channel="phone", summary="工程师30分钟内远程接入", ticket="SR-889"
    )
    actions.log_contact(incident, plans.isp, channel="im", summary="确认线路正常")
    entries = incident.timeline.filter(kind=Kind.TASK, data__event__startswith="contact_")
    assert [e.data["event"] for e in entries] == ["contact_call", "contact_message"]
    assert "SR-889" in headline(entries[0]) and "示范软件公司" in headline(entries[0])
