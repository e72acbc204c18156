"""Working an incident through the server-rendered pages, as IT staff do."""

from __future__ import annotations

import re

from django.test import Client

from hisguard.incidents.models import Incident, Status
from hisguard.reporting.models import FaultReport

from .conftest import api, api_report


def report_from_page(tiny, hostname="PC-A1-1", **data):
    client = Client()
    url = f"/r/{tiny.ws(hostname).report_token}/"
    form = {
        "symptom": "cannot_save",
        "system": tiny.systems["HIS"].pk,
        "text": "保存医嘱报错",
        "contact_phone": "8123",
    }
    form.update(data)
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    return client, response["Location"]


def test_report_page_offers_the_departments_systems_first_and_shows_known_problems(tiny, actors):
    api(
        actors["network_admin"].client,
        "post",
        "/api/v1/incidents/asset-down",
        actors["network_admin"].token,
        {"asset": "DB-1"},
    )
    page = Client().get(f"/r/{tiny.ws('PC-C1-1').report_token}/").content.decode()
    mine = page.index("optgroup")
    assert page.index("HIS", mine) < page.index("LIS", mine)  # C1 does not use LIS
    assert "DB-1" in page  # the known class I outage is shown before anyone reports


def test_the_reporter_follows_progress_and_feedback_on_the_status_page(tiny, actors):
    client, status_url = report_from_page(tiny)
    page = client.get(status_url).content.decode()
    report = FaultReport.objects.get()
    assert report.tracking_number in page
    assert report.channel == "workstation"

    it = actors["network_admin"].client
    incident = report.incident
    assert (
        it.post(
            f"/incidents/{incident.pk}/status/", {"status": "confirmed", "message": "已派人前往"}
        ).status_code
        == 302
    )
    assert it.post(f"/incidents/{incident.pk}/note/", {"text": "内部备注：查网线"}).status_code == 302
    assert (
        it.post(f"/incidents/{incident.pk}/note/", {"text": "请先用另一台电脑", "public": "on"}).status_code
        == 302
    )

    live = client.get(status_url + "live/").content.decode()
    assert "已派人前往" in live
    assert "请先用另一台电脑" in live
    assert "查网线" not in live  # internal notes stay internal
    assert Incident.objects.get().status == Status.CONFIRMED


def test_the_console_lists_open_incidents_and_live_refresh_returns_the_fragment(tiny, actors):
    report_from_page(tiny)
    console = actors["network_admin"].client.get("/console/").content.decode()
    assert 'hx-get="/console/live/"' in console
    incident = Incident.objects.get()
    assert incident.number in console
    fragment = actors["network_admin"].client.get("/console/live/").content.decode()
    assert incident.number in fragment and "<html" not in fragment


def test_phone_intake_by_department_only(tiny, actors):
    it = actors["network_admin"].client
    response = it.post(
        "/intake/",
        {
            "department": tiny.departments["DB2"].pk,
            "symptom": "no_network",
            "reporter_name": "李护士",
            "contact_phone": "8200",
        },
    )
    assert response.status_code == 302
    report = FaultReport.objects.get()
    assert report.channel == "phone"
    assert report.received_by == actors["network_admin"].user
    assert report.workstation is None and report.department == tiny.departments["DB2"]
    bad = it.post("/intake/", {"workstation": "NOPE", "symptom": "no_network"})
    assert bad.status_code == 400
    assert FaultReport.objects.count() == 1


def test_detach_and_attach_a_misrouted_report(tiny, actors):
    it = actors["network_admin"].client
    report_from_page(tiny, "PC-A1-1")
    report_from_page(tiny, "PC-A1-2")
    incident = Incident.objects.get()
    second = FaultReport.objects.order_by("created_at").last()
    assert it.post(f"/reports/{second.pk}/detach/").status_code == 302
    second.refresh_from_db()
    assert second.incident is None
    assert second.tracking_number in it.get("/console/").content.decode()  # in "unattached reports"
    response = it.post(f"/reports/{second.pk}/attach/", {"incident": "new"})
    second.refresh_from_db()
    assert second.incident_id not in (None, incident.pk)
    assert response["Location"] == f"/incidents/{second.incident_id}/"


def test_refusals_are_shown_and_change_nothing(tiny, actors):
    it = actors["network_admin"].client
    report_from_page(tiny)
    incident = Incident.objects.get()
    it.post(f"/incidents/{incident.pk}/status/", {"status": "resolved"})
    page = it.post(f"/incidents/{incident.pk}/status/", {"status": "closed"}, follow=True).content.decode()
    assert "维护登记" in page or "maintenance" in page
    assert Incident.objects.get().status == Status.RESOLVED
    ok = it.post(
        f"/incidents/{incident.pk}/maintenance/",
        {
            "asset": tiny.ws("PC-A1-1").pk,
            "fault": "系统缓存损坏",
            "action": "清理缓存并重启",
            "result": "正常",
        },
    )
    assert ok.status_code == 302
    it.post(f"/incidents/{incident.pk}/status/", {"status": "closed"})
    assert Incident.objects.get().status == Status.CLOSED


def test_incident_page_shows_class_basis_timeline_and_grade(tiny, actors, client):
    for hostname in ("PC-A1-1", "PC-A1-2"):
        api_report(Client(), tiny.ws(hostname), "no_network", "HIS")
    incident = Incident.objects.get()
    assert incident.hospital_class == 2
    assert (incident.system_importance, incident.loss, incident.gbt_grade) == ("critical", "considerable", 3)
    page = actors["it_head"].client.get(f"/incidents/{incident.pk}/").content.decode()
    assert incident.number in page
    assert len(re.findall(r'<li class="k-', page)) >= 4  # opened, 2 reports, class change

    head = actors["it_head"]
    assessed = api(
        head.client,
        "post",
        f"/api/v1/incidents/{incident.pk}/assessment",
        head.token,
        {"category": "NAI", "loss": "extreme", "reason": "疑似攻击"},
    ).json()
    assert assessed["gbt_grade"] == 1


def test_a_big_incident_page_shows_the_latest_reports_and_timeline_with_a_link_to_all(
    tiny, actors, monkeypatch
):
    from hisguard.incidents import views

    monkeypatch.setattr(views, "LATEST_REPORTS", 2)
    monkeypatch.setattr(views, "LATEST_TIMELINE", 3)
    bodies = [api_report(Client(), tiny.ws(host), "no_network").json() for host in ("PC-A1-1", "PC-A1-2")]
    bodies.append(api_report(Client(), tiny.ws("PC-A1-1"), "cannot_save").json())
    incident = Incident.objects.get(pk=bodies[0]["incident"]["id"])
    assert {b["incident"]["id"] for b in bodies} == {incident.pk} and incident.reports.count() == 3
    it = actors["it_head"].client
    page = it.get(f"/incidents/{incident.pk}/").content.decode()
    first, second, third = (b["tracking_number"] for b in bodies)
    assert "显示最近 2 条，共 3 条。" in page and first not in page
    assert second in page and third in page and "?reports=all" in page
    everything = it.get(f"/incidents/{incident.pk}/?reports=all").content.decode()
    assert all(b["tracking_number"] in everything for b in bodies) and 'id="reports-latest"' not in everything
    total = incident.timeline.count()
    assert total > 3
    partial = it.get(f"/incidents/{incident.pk}/timeline/").content.decode()
    assert partial.count("<li ") == 3 and f"显示最近 3 条，共 {total} 条。" in partial
    # The full timeline stays full through the 10-second refresh.
    full = it.get(f"/incidents/{incident.pk}/?timeline=all").content.decode()
    assert f"/incidents/{incident.pk}/timeline/?timeline=all" in full
    assert it.get(f"/incidents/{incident.pk}/timeline/?timeline=all").content.decode().count("<li ") == total
