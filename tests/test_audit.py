"""Every change is in the audit log, with who, when and from where."""

from __future__ import annotations

from django.test import Client

from hisguard.core.models import AuditLog
from hisguard.organisation.models import Asset

from .conftest import api, api_report


def test_report_and_incident_changes_are_audited_with_actor_and_ip(tiny, actors):
    body = api_report(Client(REMOTE_ADDR="10.2.3.4"), tiny.ws("PC-A1-1")).json()
    submit = AuditLog.objects.get(action="report.submit")
    assert submit.actor_label == "workstation PC-A1-1"
    assert submit.ip_address == "10.2.3.4"
    assert submit.details["incident"] == body["incident"]["number"]
    # One entry says who reported what, from where, into which incident.
    assert submit.details["values"]["symptom"] == "cannot_enter"
    assert submit.details["values"]["workstation_id"] == tiny.ws("PC-A1-1").pk
    assert submit.details["channel"] == "workstation"

    it = actors["network_admin"]
    api(
        it.client,
        "post",
        f"/api/v1/incidents/{body['incident']['id']}/status",
        it.token,
        {"status": "confirmed"},
    )
    change = AuditLog.objects.get(action="incident.status")
    assert change.actor == it.user
    assert change.details == {"old": "reported", "new": "confirmed", "message": ""}


def test_secrets_never_reach_the_audit_log(tiny):
    entry = AuditLog.objects.filter(action="organisation.asset.create").first()
    assert entry is not None
    assert "report_token" not in entry.details["values"]
    assert tiny.ws("PC-A1-1").report_token not in str(AuditLog.objects.values_list("details", flat=True))


def test_admin_edits_are_audited(tiny, actors):
    admin = actors["admin"]
    ws = tiny.ws("PC-A1-1")
    url = f"/admin/organisation/asset/{ws.pk}/change/"
    page = admin.client.get(url)
    assert page.status_code == 200
    form = {
        "hospital": ws.hospital_id,
        "hostname": ws.hostname,
        "name": "新名字",
        "kind": ws.kind,
        "area": ws.area_id,
        "department": ws.department_id,
        "upstream": ws.upstream_id,
        "ip_address": "10.0.0.9",
        "location": "",
        "is_active": "on",
    }
    response = admin.client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditLog.objects.filter(action="organisation.asset.update", object_id=str(ws.pk)).latest("id")
    assert entry.actor == admin.user
    assert entry.details["values"]["name"] == "新名字"
    assert Asset.objects.get(pk=ws.pk).name == "新名字"


def test_the_audit_log_cannot_be_edited_in_the_admin(tiny, actors):
    entry = AuditLog.objects.first()
    admin = actors["admin"].client
    assert admin.get(f"/admin/core/auditlog/{entry.pk}/delete/").status_code == 403
    assert admin.post(f"/admin/core/auditlog/{entry.pk}/change/", {"action": "x"}).status_code == 403
