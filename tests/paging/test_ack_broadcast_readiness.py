"""Acknowledging from a link, the page and the API; the all-hospital notice and status page;
the readiness page; configuration refused at save time."""

from __future__ import annotations

import datetime

import time_machine
from django.test import Client

from hisguard.incidents.models import Incident
from hisguard.paging.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationRun,
    EscalationStep,
    Notification,
)
from hisguard.paging.worker import Worker

from ..conftest import api, api_report

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)


def page_and_get_ack_link(tiny, receiver) -> tuple[Incident, str]:
    report = api_report(Client(), tiny.ws("PC-A1-1")).json()
    worker = Worker(threads=2)
    try:
        worker.run_once()
    finally:
        worker.pool.shutdown()
    return Incident.objects.get(pk=report["incident"]["id"]), receiver.requests[0].body["ack_url"]


def test_ack_link_asks_first_then_acknowledges_once(staff, receiver, tiny):
    with time_machine.travel(T0, tick=False):
        incident, url = page_and_get_ack_link(tiny, receiver)
        path = url.split("8000", 1)[-1] if "8000" in url else "/" + url.split("/", 3)[3]
        phone = Client()
        preview = phone.get(path)
        assert preview.status_code == 200 and 'id="ack-button"' in preview.content.decode()
        assert EscalationRun.objects.get().state == EscalationRun.State.ACTIVE  # a GET changes nothing
        assert phone.post(path).status_code == 200
        run = EscalationRun.objects.get()
        assert run.state == EscalationRun.State.ACKNOWLEDGED and run.acknowledged_by == staff["NA1"]
        again = phone.post(path)
        assert again.status_code == 409
    headline = [e.data for e in incident.timeline.filter(kind="acknowledged")]
    assert headline[0]["who"] == "网管甲" and headline[0]["via"] == "link"


def test_ack_link_expires(staff, receiver, tiny):
    with time_machine.travel(T0, tick=False) as clock:
        _incident, url = page_and_get_ack_link(tiny, receiver)
        clock.shift(datetime.timedelta(hours=25))
        path = "/" + url.split("/", 3)[3]
        assert Client().post(path).status_code == 410
        assert Client().post("/ack/forged-token/").status_code == 404
    assert EscalationRun.objects.get().state == EscalationRun.State.ACTIVE


def test_acknowledge_from_the_page_and_the_api(staff, receiver, tiny, actors):
    report = api_report(Client(), tiny.ws("PC-A1-1")).json()
    incident_id = report["incident"]["id"]
    auditor = actors["auditor"]
    refused = api(auditor.client, "post", f"/api/v1/incidents/{incident_id}/acknowledge", auditor.token)
    assert refused.status_code == 403
    it = actors["network_admin"]
    done = api(it.client, "post", f"/api/v1/incidents/{incident_id}/acknowledge", it.token)
    assert done.status_code == 200 and done.json() == {"acknowledged": 1}
    twice = api(it.client, "post", f"/api/v1/incidents/{incident_id}/acknowledge", it.token)
    assert twice.status_code == 409 and twice.json()["error"]["messages"]["en"]
    page = it.client.get(f"/incidents/{incident_id}/").content.decode()
    assert 'id="delivery-log"' in page


def test_broadcast_reaches_every_head_the_reporters_and_the_status_page(
    staff, receiver, tiny, actors, settings
):
    settings.HISGUARD_SMS_GATEWAY_URL = f"{receiver.url}/sms"
    report = api_report(Client(), tiny.ws("PC-B1-1"), contact_phone="13900000009").json()
    incident_id = report["incident"]["id"]
    it, head = actors["network_admin"], actors["leadership"]
    text = "HIS 预计 30 分钟内恢复，请各科室按手工流程操作"
    assert (
        api(
            it.client, "post", f"/api/v1/incidents/{incident_id}/broadcast", it.token, {"text": text}
        ).status_code
        == 403
    )
    sent = api(head.client, "post", f"/api/v1/incidents/{incident_id}/broadcast", head.token, {"text": text})
    assert sent.status_code == 201 and sent.json()["recipients"] == 3
    worker = Worker(threads=2)
    try:
        worker.run_once()
    finally:
        worker.pool.shutdown()
    assert {"/p/HA1", "/p/HB1", "/p/NC1"} <= set(receiver.paths())
    sms = [r.body for r in receiver.requests if r.path == "/sms"]
    assert sms and sms[0]["phone"] == "13900000009" and "手工流程" in sms[0]["message"]
    Incident.objects.filter(pk=incident_id).update(hospital_class=2)
    status = Client().get("/status/").content.decode()
    assert text in status
    status_for_reporter = Client().get(report["status_url"].split("8000", 1)[-1]).content.decode()
    assert text in status_for_reporter


def test_status_page_says_all_is_well_when_it_is(db):
    page = Client().get("/status/").content.decode()
    assert "正常" in page


def test_readiness_lists_a_class_that_would_reach_nobody(staff, actors):
    page = actors["it_head"].client.get("/paging/readiness/").content.decode()
    assert "网管甲" in page or "网管乙" in page
    ContactMethod.objects.all().update(is_active=False)
    page = actors["it_head"].client.get("/paging/readiness/").content.decode()
    assert page.count("row-c1") >= 3  # every class reaches nobody now
    assert "信息科长" in page  # listed among people on duty/in command without a channel
    EscalationPolicy.objects.filter(hospital_class=3).delete()
    assert "row-c1" in actors["it_head"].client.get("/paging/readiness/").content.decode()


def test_bad_configuration_is_refused_at_save_time(staff, actors, receiver):
    admin = actors["admin"].client
    person = staff["NA1"]
    bad_url = admin.post(
        "/admin/paging/contactmethod/add/",
        {
            "person": person.pk,
            "channel": Channel.WEBHOOK,
            "address": "not a url",
            "priority": 1,
            "is_active": "on",
        },
    )
    assert bad_url.status_code == 200 and "URL" in bad_url.content.decode()
    bad_phone = admin.post(
        "/admin/paging/contactmethod/add/",
        {
            "person": person.pk,
            "channel": Channel.SMS_HTTP,
            "address": "call me",
            "priority": 1,
            "is_active": "on",
        },
    )
    assert bad_phone.status_code == 200
    assert ContactMethod.objects.filter(address__in=["not a url", "call me"]).count() == 0

    policy = EscalationPolicy.objects.get(hospital_class=3)
    form = {
        "policy": policy.pk,
        "order": 5,
        "delay_minutes": 45,
        "channels": "[]",
        "repeat_every_minutes": 0,
        "repeat_times": 0,
        "requires_ack": "on",
        "targets-TOTAL_FORMS": 1,
        "targets-INITIAL_FORMS": 0,
        "targets-MIN_NUM_FORMS": 0,
        "targets-MAX_NUM_FORMS": 1000,
        "targets-0-kind": "",
        "targets-0-position": "",
    }
    no_targets = admin.post("/admin/paging/escalationstep/add/", form)
    assert no_targets.status_code == 200
    assert not EscalationStep.objects.filter(delay_minutes=45).exists()
    silent = staff["HA1"]
    ContactMethod.objects.filter(person=silent).delete()
    unreachable = admin.post(
        "/admin/paging/escalationstep/add/",
        {**form, "targets-0-kind": "person", "targets-0-person": silent.pk},
    )
    assert unreachable.status_code == 200 and "A1主任" in unreachable.content.decode()
    assert not EscalationStep.objects.filter(delay_minutes=45).exists()
    ok = admin.post(
        "/admin/paging/escalationstep/add/",
        {**form, "targets-0-kind": "position", "targets-0-position": "it_head"},
    )
    assert ok.status_code == 302
    assert Notification.objects.count() == 0
