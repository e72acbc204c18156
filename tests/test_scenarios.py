"""The plan's scenarios end to end through the API (DESIGN §4, issue #2 quality bar)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.test import Client

from hisguard.incidents.models import Incident
from hisguard.reporting.models import FaultReport

from .conftest import api, api_report

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)


@pytest.fixture
def anon() -> Client:
    return Client()


def test_one_pc_fails_is_class_iii_for_the_network_administrator(tiny, actors, anon):
    response = api_report(
        anon, tiny.ws("PC-A1-1"), "cannot_enter", "HIS", text="点不开", contact_phone="8001"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tracking_number"]
    assert body["incident"]["hospital_class"] == 3
    assert "/s/" in body["status_url"]

    detail = api(
        actors["network_admin"].client,
        "get",
        f"/api/v1/incidents/{body['incident']['id']}",
        actors["network_admin"].token,
    ).json()
    assert detail["owner"] == "网络管理员"
    assert detail["class_basis"] == ["单台工作站或终端受影响"] or detail["class_basis"]
    assert [s["code"] for s in detail["systems"]] == ["HIS"]
    assert detail["reports"] == [body["tracking_number"]]
    assert FaultReport.objects.get().incident_id == body["incident"]["id"]


def test_two_pcs_behind_one_access_switch_within_ten_minutes_are_one_class_ii(tiny, anon):
    with time_machine.travel(T0, tick=False) as clock:
        first = api_report(anon, tiny.ws("PC-A1-1"), "no_network").json()
        clock.shift(datetime.timedelta(minutes=7))
        second = api_report(anon, tiny.ws("PC-A1-2"), "no_network").json()
    assert first["incident"]["id"] == second["incident"]["id"]
    assert second["incident"]["hospital_class"] == 2
    assert Incident.objects.count() == 1
    incident = Incident.objects.get()
    assert incident.class_reasons[0]["code"] == "same_switch"


def test_two_pcs_behind_one_switch_far_apart_in_time_stay_separate(tiny, anon):
    with time_machine.travel(T0, tick=False) as clock:
        first = api_report(anon, tiny.ws("PC-A1-1"), "no_network").json()
        clock.shift(datetime.timedelta(minutes=25))
        second = api_report(anon, tiny.ws("PC-A1-2"), "no_network").json()
    assert first["incident"]["id"] != second["incident"]["id"]
    assert second["incident"]["hospital_class"] == 3


def test_database_server_marked_down_by_it_is_class_i_and_collects_reports(tiny, actors, anon):
    it = actors["network_admin"]
    response = api(
        it.client, "post", "/api/v1/incidents/asset-down", it.token, {"asset": "DB-1", "note": "主库宕机"}
    )
    assert response.status_code == 201, response.content
    incident = response.json()
    assert incident["hospital_class"] == 1
    assert incident["down_assets"] == ["DB-1"]
    assert [s["code"] for s in incident["systems"]] == ["HIS"]
    assert len(incident["departments"]) == 6

    # Half an hour later a nurse in building C reports HIS: it joins the known outage.
    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=30)):
        joined = api_report(anon, tiny.ws("PC-C2-3"), "cannot_save", "HIS").json()
    assert joined["incident"]["id"] == incident["id"]
    assert Incident.objects.count() == 1


def test_reports_naming_one_system_from_three_buildings_are_one_class_i(tiny, anon):
    # Half of HIS's six departments would be class I on their own; here buildings decide.
    tiny.hospital.classification_policy.class1_department_share = 60
    tiny.hospital.classification_policy.save()
    with time_machine.travel(T0, tick=False) as clock:
        a = api_report(anon, tiny.ws("PC-A1-1"), "cannot_enter", "HIS").json()
        assert a["incident"]["hospital_class"] == 3
        clock.shift(datetime.timedelta(minutes=2))
        b = api_report(anon, tiny.ws("PC-B2-1"), "cannot_enter", "HIS").json()
        assert b["incident"]["hospital_class"] == 2  # two departments report one system
        clock.shift(datetime.timedelta(minutes=3))
        c = api_report(anon, tiny.ws("PC-C1-2"), "cannot_enter", "HIS").json()
    assert a["incident"]["id"] == b["incident"]["id"] == c["incident"]["id"]
    assert c["incident"]["hospital_class"] == 1
    incident = Incident.objects.get()
    assert {r["code"] for r in incident.class_reasons} >= {"buildings"}
    assert incident.areas.count() == 3


def test_a_report_after_the_incident_resolved_opens_a_new_one(tiny, actors, anon):
    it = actors["network_admin"]
    first = api_report(anon, tiny.ws("PC-A1-1"), "cannot_enter", "HIS").json()
    incident_id = first["incident"]["id"]
    for status in ("confirmed", "resolved"):
        response = api(
            it.client, "post", f"/api/v1/incidents/{incident_id}/status", it.token, {"status": status}
        )
        assert response.status_code == 200, response.content
    again = api_report(anon, tiny.ws("PC-A1-1"), "cannot_enter", "HIS").json()
    assert again["incident"]["id"] != incident_id
    assert again["incident"]["status"] == "reported"


def test_evidence_only_raises_and_a_person_may_lower_with_a_reason(tiny, actors, anon):
    head = actors["it_head"]
    with time_machine.travel(T0, tick=False) as clock:
        api_report(anon, tiny.ws("PC-A1-1"), "no_network")
        clock.shift(datetime.timedelta(minutes=1))
        second = api_report(anon, tiny.ws("PC-A1-2"), "no_network").json()
        incident_id = second["incident"]["id"]
        assert second["incident"]["hospital_class"] == 2
        no_reason = api(
            head.client,
            "post",
            f"/api/v1/incidents/{incident_id}/class",
            head.token,
            {"class": 3, "reason": " "},
        )
        assert no_reason.status_code == 400
        assert no_reason.json()["error"]["messages"]["en"]
        lowered = api(
            head.client,
            "post",
            f"/api/v1/incidents/{incident_id}/class",
            head.token,
            {"class": 3, "reason": "两台电脑网线同时松动"},
        )
        assert lowered.status_code == 200
        assert lowered.json()["hospital_class"] == 3
        # A third PC on the same switch: evidence raises it again.
        clock.shift(datetime.timedelta(minutes=1))
        third = api_report(anon, tiny.ws("PC-A1-3"), "no_network").json()
    assert third["incident"]["id"] == incident_id
    assert third["incident"]["hospital_class"] == 2
    kinds = [
        e["kind"]
        for e in api(head.client, "get", f"/api/v1/incidents/{incident_id}", head.token).json()["timeline"]
    ]
    assert kinds.count("class") == 3


def test_class_iii_closes_only_after_a_maintenance_log_entry(tiny, actors, anon):
    it = actors["network_admin"]
    incident_id = api_report(anon, tiny.ws("PC-B1-1"), "cannot_enter").json()["incident"]["id"]
    base = f"/api/v1/incidents/{incident_id}"
    assert api(it.client, "post", f"{base}/status", it.token, {"status": "resolved"}).status_code == 200
    refused = api(it.client, "post", f"{base}/status", it.token, {"status": "closed"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "maintenance_log_required"
    logged = api(
        it.client,
        "post",
        f"{base}/maintenance",
        it.token,
        {"asset": "PC-B1-1", "fault": "网卡故障", "action": "更换网卡", "result": "恢复"},
    )
    assert logged.status_code == 201
    closed = api(it.client, "post", f"{base}/status", it.token, {"status": "closed"})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"


def test_class_ii_is_resolved_by_the_it_head_not_the_network_administrator(tiny, actors, anon):
    with time_machine.travel(T0, tick=False):
        api_report(anon, tiny.ws("PC-A1-1"), "no_network")
        incident_id = api_report(anon, tiny.ws("PC-A1-2"), "no_network").json()["incident"]["id"]
    it, head = actors["network_admin"], actors["it_head"]
    base = f"/api/v1/incidents/{incident_id}/status"
    assert api(it.client, "post", base, it.token, {"status": "confirmed"}).status_code == 200
    assert api(it.client, "post", base, it.token, {"status": "resolved"}).status_code == 403
    assert api(head.client, "post", base, head.token, {"status": "resolved"}).status_code == 200


def test_a_system_failing_in_a_busy_hour_gathers_into_one_incident_not_its_reporters_switches(tiny, anon):
    """Single-PC problems have opened an incident at each of two switches when HIS fails: the
    HIS reports join the incident that already has HIS, not their own switch's, and reach
    class I together (three buildings) instead of scattering."""
    with time_machine.travel(T0, tick=False) as clock:

        def report(host: str, system: str | None = None) -> dict:
            clock.shift(datetime.timedelta(seconds=20))
            response = api_report(
                anon, tiny.ws(host), "cannot_save" if system is None else "cannot_enter", system
            )
            assert response.status_code == 201, response.content
            return response.json()["incident"]

        switch_a = report("PC-A1-1")
        assert report("PC-A1-2")["id"] == switch_a["id"]
        first_his = report("PC-A1-3", "HIS")
        assert first_his["id"] == switch_a["id"]  # the only related incident
        switch_b = report("PC-B1-1")
        assert report("PC-B1-2")["id"] == switch_b["id"] != switch_a["id"]  # newer evidence than A's
        second_his = report("PC-B1-3", "HIS")
        third_his = report("PC-C1-1", "HIS")

    assert second_his["id"] == third_his["id"] == switch_a["id"]
    assert third_his["hospital_class"] == 1
    his = Incident.objects.get(pk=switch_a["id"])
    assert his.reports.filter(system__code="HIS").count() == 3
    assert Incident.objects.get(pk=switch_b["id"]).reports.count() == 2
