"""Only the ward's own staff and IT see a ward's packets; every opening and print is logged with
who, when and why; break-glass needs a reason and alerts the emergency office."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client

from hisguard.continuity import actions
from hisguard.continuity.models import EmergencyAccess, PacketAccess
from hisguard.core.models import ApiToken, AuditLog
from hisguard.paging.models import Notification

from .conftest import NOW


@pytest.fixture
def packets(h3, file_connector, clock):
    actions.run_snapshot(file_connector)
    return {code: actions.latest_packet(ward) for code, ward in h3.wards.items()}


def _url(h3, code: str, pdf: bool = False, **query) -> str:
    path = f"/downtime/wards/{h3.wards[code].pk}/" + ("packet.pdf" if pdf else "")
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_who_sees_which_ward(h3, packets):
    expected = {
        "nurse1": {"W1"},
        "nurse2": {"W2"},
        "it": {"W1", "W2", "W3"},
        "ithead": {"W1", "W2", "W3"},
        "office": set(),
        "leader": set(),
        "auditor": set(),
    }
    for who, wards in expected.items():
        client = h3.client(who)
        for code in ("W1", "W2", "W3"):
            response = client.get(_url(h3, code, reason="downtime"))
            assert response.status_code == (200 if code in wards else 403), (who, code)
    assert (
        h3.client("nobody").get(_url(h3, "W1", reason="downtime")).status_code == 403
    )  # a W1 person, no role
    assert Client().get(_url(h3, "W1", reason="downtime")).status_code == 302  # to the login page


def test_every_opening_and_print_is_logged_with_a_reason(h3, packets):
    nurse = h3.client("nurse1")
    page = nurse.get(_url(h3, "W1"))
    assert page.status_code == 200 and "reason" in page.content.decode()  # asks why first
    assert not PacketAccess.objects.exists()
    html = nurse.get(_url(h3, "W1", reason="other", detail="核对")).content.decode()
    assert "核对" in html  # not enough: "other" needs a few words
    html = nurse.get(_url(h3, "W1", reason="downtime")).content.decode()
    assert "停机应急 · 只读 / DOWNTIME · READ-ONLY" in html
    name = packets["W1"].data()["patients"][0]["name"]
    assert name in html
    pdf = nurse.get(_url(h3, "W1", pdf=True))  # the reason is remembered for the shift
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    nurse.get(_url(h3, "W2"))  # refused, and logged too
    log = list(
        PacketAccess.objects.order_by("id").values_list("actor_label", "action", "ward__code", "reason")
    )
    assert [(a, w) for _who, a, w, _r in log] == [("view", "W1"), ("print", "W1"), ("denied", "W2")]
    assert all(who.startswith("nurse1") for who, *_rest in log)
    assert all("HIS" in reason for *_rest, reason in log)
    first = PacketAccess.objects.order_by("id").first()
    assert first.at == NOW and first.packet_as_of == packets["W1"].as_of


def test_print_all_wards(h3, packets):
    response = h3.client("it").get("/downtime/print-all.pdf?reason=check")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert PacketAccess.objects.filter(action="print_all").count() == 3


def test_break_glass_needs_a_reason_and_alerts_the_office(h3, packets, clock):
    leader = h3.client("leader")
    w2 = h3.wards["W2"]
    short = leader.post("/downtime/break-glass/", {"ward": w2.pk, "reason": "看看", "hours": 2})
    assert short.status_code == 200 and not EmergencyAccess.objects.exists()
    response = leader.post(
        "/downtime/break-glass/",
        {"ward": w2.pk, "reason": "ICU 会诊：需要确认过敏史和正在使用的抗生素", "hours": 2},
    )
    assert response.status_code == 302
    grant = EmergencyAccess.objects.get()
    assert grant.expires_at == NOW + datetime.timedelta(hours=2)
    alerts = Notification.objects.filter(person__user__username="office")
    assert alerts.count() == 1 and "leader" in alerts.get().subject and "会诊" in alerts.get().body
    assert grant.alerted == 1
    assert leader.get(_url(h3, "W2", reason="downtime")).status_code == 200
    assert leader.get(_url(h3, "W1", reason="downtime")).status_code == 403  # only the ward asked for
    access = PacketAccess.objects.get(action="view")
    assert access.emergency == grant
    assert AuditLog.objects.filter(action="continuity.break_glass").exists()
    clock.shift(datetime.timedelta(hours=2, minutes=1))
    assert leader.get(_url(h3, "W2", reason="downtime")).status_code == 403
    # Roles without break-glass cannot ask for it.
    assert h3.client("auditor").get("/downtime/break-glass/").status_code == 403


def test_audit_log_holds_no_patient_data(h3, packets):
    h3.client("nurse1").get(_url(h3, "W1", reason="downtime"))
    names = [p["name"] for p in packets["W1"].data()["patients"]]
    text = " ".join(str(row) for row in AuditLog.objects.values_list("details", "object_repr"))
    assert not any(name in text for name in names)
    assert "sealed_payload" not in text


def test_api_packet_is_logged_and_checked(h3, packets):
    _token, raw = ApiToken.issue("ward app", h3.users["nurse1"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    ok = Client().get("/api/v1/continuity/wards/W1/packet?reason=downtime", **headers)
    assert ok.status_code == 200 and ok.json()["packet"]["ward"]["code"] == "W1"
    assert Client().get("/api/v1/continuity/wards/W2/packet?reason=downtime", **headers).status_code == 403
    missing_reason = Client().get("/api/v1/continuity/wards/W1/packet?reason=nope", **headers)
    assert missing_reason.status_code == 400 and "zh-hans" in missing_reason.json()["error"]["messages"]
    assert set(PacketAccess.objects.values_list("action", flat=True)) == {"api", "denied"}
    _token, it = ApiToken.issue("monitor", h3.users["it"])
    status = Client().get("/api/v1/continuity/status", HTTP_AUTHORIZATION=f"Bearer {it}")
    assert status.status_code == 200 and status.json()["connectors"][0]["health"] in ("ok", "never")
    assert Client().get("/api/v1/continuity/status", **headers).status_code == 403


def test_pages_by_role(h3, packets):
    pages = {
        "/downtime/": {"nurse1", "it", "ithead", "office", "leader", "auditor"},
        "/downtime/forms/": {"nurse1", "it", "ithead", "office", "leader"},
        "/downtime/access/": {"ithead", "office", "auditor"},
        "/downtime/connectors/new/": {"ithead"},
        f"/downtime/connectors/{packets['W1'].snapshot.connector_id}/": {"ithead"},
        f"/downtime/snapshots/{packets['W1'].snapshot_id}/": {"it", "ithead", "office", "leader", "auditor"},
        "/downtime/nodes/new/": {"ithead"},
    }
    for path, allowed in pages.items():
        for who in ("nurse1", "it", "ithead", "office", "leader", "auditor", "nobody"):
            status = h3.client(who).get(path).status_code
            assert status == (200 if who in allowed else 403), (path, who, status)
