"""Pages and API of incident command: permissions per role, bad input answered clearly in both
languages with nothing saved, the panel on the incident page, procedures on the status page."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from hisguard.core.models import AuditLog
from hisguard.incidents.models import Status
from hisguard.response.models import (
    CrisisAssignment,
    DowntimeRecord,
    EmergencyDeclaration,
    Playbook,
    PlaybookStep,
    StepRun,
    TempNumberRange,
)
from tests.conftest import api

from .conftest import class_i, class_ii, confirm, move

ALL_ROLES = ["network_admin", "it_head", "leadership", "emergency_office", "auditor", "admin"]


@pytest.fixture
def incident(plans):
    return confirm(class_i(plans.tiny))


PAGES = {
    "/incidents/{id}/": set(ALL_ROLES),
    "/incidents/{id}/back-entry/": set(ALL_ROLES),
    "/incidents/{id}/review/": set(ALL_ROLES),
    "/incidents/{id}/review/export.html": set(ALL_ROLES),
    "/command/": set(ALL_ROLES),
    "/command/live/": set(ALL_ROLES),
    "/response/": set(ALL_ROLES),
    "/response/procedures/": set(ALL_ROLES),
    "/response/ranges/": set(ALL_ROLES),
    "/response/contacts/": set(ALL_ROLES),
    "/response/follow-ups/": set(ALL_ROLES),
}


def test_pages_by_role(incident, actors):
    for path, allowed in PAGES.items():
        url = path.format(id=incident.pk)
        for role in ALL_ROLES:
            assert actors[role].client.get(url).status_code == (200 if role in allowed else 403), (role, url)
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


# (path, form data, roles allowed). Each is refused with 403 for the others and changes nothing.
def _actions(incident, plans):
    run = incident.step_runs.first()
    person = plans.people["admin"]
    return [
        (
            "/incidents/{id}/response/team/",
            {"role": "scribe", "person": person.pk},
            {"it_head", "leadership", "admin"},
        ),
        (
            "/incidents/{id}/response/emergency/declare/",
            {"signed_by": "张院长", "basis": "全院HIS中断"},
            {"leadership", "admin"},
        ),
        (
            f"/incidents/{{id}}/response/steps/{run.pk}/done/",
            {"evidence": "已确认"},
            {"network_admin", "it_head", "emergency_office", "admin"},
        ),
        (
            "/incidents/{id}/response/assessment/",
            {"night": "on", "patients_affected": "12"},
            {"it_head", "leadership", "admin"},
        ),
    ]


def test_page_actions_by_role(plans, actors):
    for role in ALL_ROLES:
        incident = confirm(class_i(plans.tiny))
        for path, data, allowed in _actions(incident, plans):
            response = actors[role].client.post(path.format(id=incident.pk), data)
            assert response.status_code == (302 if role in allowed else 403), (role, path)
        # Close the incident again so the next role gets a fresh one (nothing joins it).
        StepRun.objects.filter(incident=incident).update(state="done")
        EmergencyDeclaration.objects.filter(incident=incident).update(ended_at=timezone.now())
        incident.refresh_from_db()
        for status in (Status.RESPONDING, Status.RECOVERING, Status.RESOLVED, Status.CLOSED):
            incident = move(incident, status, actors["admin"].user)
    assert CrisisAssignment.objects.count() == 3  # it_head, leadership, admin
    assert EmergencyDeclaration.objects.count() == 2  # leadership, admin


def test_incident_page_shows_the_command_panel(incident, actors):
    html = actors["it_head"].client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="response-panel"' in html and 'id="playbook-steps"' in html
    assert "数据库" in html  # the database playbook's steps
    assert 'id="assign-form"' in html and 'id="declare-form"' not in html  # the IT head does not declare
    leader_html = actors["leadership"].client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="declare-form"' in leader_html
    assert actors["auditor"].client.get(f"/incidents/{incident.pk}/").status_code == 200


def test_status_page_shows_each_affected_departments_procedures(plans):
    incident = class_ii(plans.tiny)
    html = Client().get("/status/").content.decode()
    assert f'id="procedures-{incident.pk}"' in html
    assert "B楼科室1" in html and "门诊挂号与收费（手工）" in html
    department = plans.tiny.departments["DB1"]
    printable = Client().get(f"/response/procedures/departments/{department.pk}/print/")
    assert printable.status_code == 200
    assert "手工挂号单" in printable.content.decode() and "40" in printable.content.decode()


def test_page_form_errors_are_shown_and_nothing_is_saved(plans, actors):
    client = actors["it_head"].client
    playbook = Playbook.objects.get(hospital=plans.tiny.hospital, code="malware")
    steps = playbook.steps.count()
    response = client.post(
        f"/response/playbooks/{playbook.pk}/steps/", {"title": "新步骤", "target_minutes": "10"}, follow=True
    )
    assert "needs an owner role" in response.content.decode() or "负责" in response.content.decode()
    assert playbook.steps.count() == steps
    department = plans.tiny.departments["DA1"]
    client.post(
        "/response/ranges/add/",
        {"department": department.pk, "kind": "outpatient", "number_prefix": "T", "first": 1, "last": 100},
    )
    response = client.post(
        "/response/ranges/add/",
        {
            "department": plans.tiny.departments["DB1"].pk,
            "kind": "outpatient",
            "number_prefix": "T",
            "first": 50,
            "last": 200,
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "overlaps" in response.content.decode()
    assert TempNumberRange.objects.count() == 1


def test_api_bad_input_is_answered_in_both_languages_and_saves_nothing(plans, actors, incident):
    head = actors["it_head"]
    body = {
        "hospital": "T",
        "code": "custom",
        "name": "自定义",
        "steps": [
            {"title": "一", "owner_role": "commander", "target_minutes": 5},
            {"title": "二", "target_minutes": 5},
        ],
    }
    response = api(head.client, "post", "/api/v1/playbooks", head.token, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["messages"]) == {"zh-hans", "en"} and "Step 2" in error["messages"]["en"]
    assert (
        not Playbook.objects.filter(code="custom").exists()
        and not PlaybookStep.objects.filter(title="一").exists()
    )

    department = plans.tiny.departments["DA1"]
    ok = {"hospital": "T", "department": "DA1", "prefix": "T", "first": 1, "last": 100}
    assert api(head.client, "post", "/api/v1/temp-number-ranges", head.token, ok).status_code == 200
    clash = api(
        head.client,
        "post",
        "/api/v1/temp-number-ranges",
        head.token,
        {**ok, "department": "DB1", "first": 90},
    )
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "range_overlap"
    assert TempNumberRange.objects.filter(department=department).count() == 1

    typo = api(
        head.client,
        "post",
        f"/api/v1/incidents/{incident.pk}/paper-records",
        head.token,
        {"department": "DA1", "kind": "registration", "count": "many"},
    )
    assert typo.status_code == 422
    no_time = api(
        head.client,
        "post",
        f"/api/v1/incidents/{incident.pk}/paper-records",
        head.token,
        {"department": "DA1", "kind": "registration", "performed_by": "孙"},
    )
    assert no_time.status_code == 400 and no_time.json()["error"]["messages"]["zh-hans"]
    assert not DowntimeRecord.objects.exists()


def test_api_runs_the_response(plans, actors, incident):
    head, leader, admin = actors["it_head"], actors["leadership"], actors["network_admin"]
    base = f"/api/v1/incidents/{incident.pk}"
    state = api(head.client, "get", f"{base}/response", head.token).json()
    assert state["playbook"]["playbook"] == "database_failure"
    assert state["impact"]["buildings"][0]["building"] == "A"
    assert (
        api(
            head.client, "post", f"{base}/team", head.token, {"role": "commander", "person": "E000"}
        ).status_code
        == 200
    )
    assert (
        api(
            head.client,
            "post",
            f"{base}/emergency",
            head.token,
            {"action": "declare", "signed_by": "x", "text": "y"},
        ).status_code
        == 403
    )
    declared = api(
        leader.client,
        "post",
        f"{base}/emergency",
        leader.token,
        {"action": "declare", "signed_by": "张院长", "text": "一类故障"},
    )
    assert declared.status_code == 200 and declared.json()["active"]
    step = state["playbook"]["steps"][0]
    done = api(
        admin.client,
        "post",
        f"{base}/playbook/steps/{step['id']}",
        admin.token,
        {"action": "done", "evidence": "告警截图"},
    )
    assert done.status_code == 200 and done.json()["state"] == "done"
    when = (timezone.now() - datetime.timedelta(minutes=5)).isoformat()
    paper = api(
        admin.client,
        "post",
        f"{base}/paper-records",
        admin.token,
        {"department": "DA1", "kind": "registration", "count": 8, "occurred_at": when, "performed_by": "孙"},
    )
    assert paper.status_code == 200
    assert api(admin.client, "get", f"{base}/back-entry", admin.token).json()["outstanding"] == 8
    review = api(head.client, "get", f"{base}/review", head.token).json()
    assert {m["key"] for m in review["measures"]} == {"detect", "acknowledge", "classify", "recover"}
    command = api(leader.client, "get", "/api/v1/command", leader.token).json()
    assert command["incidents"][0]["emergency"] is True and command["counts"]["1"] == 1
    assert (
        api(
            actors["auditor"].client,
            "post",
            f"{base}/resources",
            actors["auditor"].token,
            {"kind": "people", "description": "x"},
        ).status_code
        == 403
    )
    assert AuditLog.objects.filter(action="response.emergency.declare", actor=leader.user).exists()
