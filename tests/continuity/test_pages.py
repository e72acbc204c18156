"""The IT pages: a connector configured in the UI and tried with "try it", snapshots run on demand,
nodes added with a token shown once; and the demo command."""

from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from hisguard.continuity import synthetic
from hisguard.continuity.models import Connector, DowntimeNode, Snapshot
from hisguard.core.models import AuditLog

from .conftest import write_bundles


def test_connector_configured_in_the_ui(h3, tmp_path, fhir_data, clock):
    write_bundles(tmp_path / "fhir", fhir_data)
    head = h3.client("ithead")
    assert "base_url" in head.get("/downtime/connectors/new/").content.decode()  # REST settings by default
    form = {
        "hospital": h3.hospital.pk,
        "name": "FHIR 导出",
        "kind": "fhir_file",
        "is_active": "on",
        "interval_minutes": 60,
        "keep": 8,
        "warn_after_minutes": 90,
        "alert_after_minutes": 240,
        "settings_json": "{not json",
        "secret": "pw-123",
    }
    bad = head.post("/downtime/connectors/new/", form)
    assert bad.status_code == 200 and "JSON" in bad.content.decode()
    form["settings_json"] = json.dumps({"path": str(tmp_path / "nowhere")})
    bad = head.post("/downtime/connectors/new/", form)
    assert "path" in bad.content.decode() and not Connector.objects.exists()
    form["settings_json"] = json.dumps({"path": str(tmp_path / "fhir"), "ward_system": synthetic.WARD_SYSTEM})
    saved = head.post("/downtime/connectors/new/", form)
    assert saved.status_code == 302
    connector = Connector.objects.get()
    assert connector.secret == "pw-123" and b"pw-123" not in bytes(connector.sealed_secret)
    assert not AuditLog.objects.filter(details__icontains="pw-123").exists()

    tried = head.post(f"/downtime/connectors/{connector.pk}/try/", HTTP_HX_REQUEST="true")
    assert tried.status_code == 200 and "W1" in tried.content.decode()
    assert not Snapshot.objects.exists()

    ran = head.post(f"/downtime/connectors/{connector.pk}/run/")
    snapshot = Snapshot.objects.get()
    assert ran.status_code == 302 and ran["Location"] == f"/downtime/snapshots/{snapshot.pk}/"
    page = head.get(ran["Location"]).content.decode()
    assert "W1" in page and str(snapshot.patients) in page
    home = head.get("/downtime/").content.decode()
    assert "FHIR 导出" in home

    # Saving again without a password keeps the stored one.
    form["secret"] = ""
    head.post(f"/downtime/connectors/{connector.pk}/", form)
    connector.refresh_from_db()
    assert connector.secret == "pw-123"


def test_node_token_is_shown_once(h3, clock):
    head = h3.client("ithead")
    response = head.post(
        "/downtime/nodes/new/", {"ward": h3.wards["W2"].pk, "name": "W2-PC", "warn_after_minutes": 90}
    )
    html = response.content.decode()
    node = DowntimeNode.objects.get()
    token = html.split("<code>")[1].split("</code>")[0]
    assert (
        token.startswith("hgn_")
        and node.token_hash != token
        and token not in str(AuditLog.objects.values_list("details", flat=True))
    )
    assert (
        Client().get("/api/v1/continuity/node/packet", HTTP_AUTHORIZATION=f"Bearer {token}").status_code
        == 200
    )
    rotated = head.post(f"/downtime/nodes/{node.pk}/rotate/").content.decode()
    assert token not in rotated
    assert (
        Client().get("/api/v1/continuity/node/packet", HTTP_AUTHORIZATION=f"Bearer {token}").status_code
        == 401
    )
    home = head.get("/downtime/").content.decode()
    assert "W2-PC" in home
    # Only wards have nodes.
    opd = h3.hospital.departments.get(code="OPD")
    refused = head.post("/downtime/nodes/new/", {"ward": opd.pk, "name": "x", "warn_after_minutes": 90})
    assert refused.status_code == 200 and DowntimeNode.objects.count() == 1


def test_demo_command(h3, clock, capsys):
    call_command("continuity_demo", hospital="H3")
    out = capsys.readouterr().out
    snapshot = Snapshot.objects.get()
    assert snapshot.status == Snapshot.Status.OK and snapshot.patients > 0
    assert snapshot.skipped == 1  # the one unreadable result the demo keeps on purpose
    assert "nurse" in out
    nurse = User.objects.get(username="nurse")
    client = Client()
    client.force_login(nurse)
    ward = nurse.person.department
    assert client.get(f"/downtime/wards/{ward.pk}/?reason=downtime").status_code == 200
    call_command("continuity_demo", hospital="H3", refresh=True)
    assert Snapshot.objects.filter(status=Snapshot.Status.OK).count() == 2
