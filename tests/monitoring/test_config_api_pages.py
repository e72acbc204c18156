"""Checks configured through the API, the pages and imports; the fence around the checker;
every monitoring page for the people who may see it."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from hisguard.core.models import AuditLog
from hisguard.monitoring.alerts import Notice, ingest
from hisguard.monitoring.models import ActiveCheck, Alert, AllowedNetwork, Heartbeat, IntakeSource, Sample
from hisguard.monitoring.netguard import Fence, current_fence
from hisguard.monitoring.probes import Spec, run_probe

from ..conftest import api


def tcp_check(port: int, **extra) -> dict:
    return {"name": "HIS app port", "kind": "tcp", "host": "127.0.0.1", "port": port, "asset_hostname": "DB-1",
            "system_code": "HIS", "interval_seconds": 30, "timeout_seconds": 2, **extra}  # fmt: skip


def test_network_admin_creates_changes_and_deletes_a_check(tiny, staff, loopback):
    admin = staff["network_admin"]
    response = api(
        admin.client,
        "post",
        "/api/v1/monitoring/checks",
        admin.token,
        tcp_check(loopback.tcp_port, password="s3cret"),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["asset"], body["system"], body["state"]) == ("DB-1", "HIS", "unknown")
    check = ActiveCheck.objects.get()
    assert check.hospital == tiny.hospital and check.password == "s3cret"
    logged = AuditLog.objects.filter(action="monitoring.activecheck.create").get()
    assert "password" not in logged.details["values"]
    changed = api(
        admin.client, "patch", f"/api/v1/monitoring/checks/{check.pk}", admin.token, {"interval_seconds": 60}
    )
    assert changed.status_code == 200 and changed.json()["interval_seconds"] == 60
    check.refresh_from_db()
    assert check.password == "s3cret" and check.port == loopback.tcp_port  # untouched fields kept
    detail = api(admin.client, "get", f"/api/v1/monitoring/checks/{check.pk}", admin.token).json()
    assert set(detail["uptime"]) == {"24h", "7d", "30d"}
    assert api(admin.client, "get", "/api/v1/monitoring/checks", admin.token).json()[0]["id"] == check.pk
    assert (
        api(admin.client, "delete", f"/api/v1/monitoring/checks/{check.pk}", admin.token).status_code == 200
    )
    assert not ActiveCheck.objects.exists()


def test_only_monitoring_managers_configure(tiny, staff, loopback):
    for role in ("auditor", "leadership", "emergency_office"):
        actor = staff[role]
        response = api(
            actor.client, "post", "/api/v1/monitoring/checks", actor.token, tcp_check(loopback.tcp_port)
        )
        assert response.status_code == 403, role
        assert api(actor.client, "get", "/api/v1/monitoring/checks", actor.token).status_code == 200
    assert not ActiveCheck.objects.exists()


def test_invalid_checks_are_refused_with_the_fields(tiny, staff):
    admin = staff["it_head"]
    bad = api(admin.client, "post", "/api/v1/monitoring/checks", admin.token,
              {"name": "x", "kind": "tcp", "host": "127.0.0.1", "asset_hostname": "NOPE", "timeout_seconds": 99})  # fmt: skip
    assert bad.status_code == 422
    fields = bad.json()["error"]["fields"]
    assert {"port", "asset_hostname", "timeout_seconds"} <= set(fields)
    http = api(admin.client, "post", "/api/v1/monitoring/checks", admin.token,
               {"name": "web", "kind": "http", "url": "ftp://127.0.0.1/", "hospital_code": "T"})  # fmt: skip
    assert "url" in http.json()["error"]["fields"]


def test_targets_outside_the_allowed_networks_are_refused(tiny, staff):
    admin = staff["network_admin"]
    body = {"name": "PACS", "kind": "tcp", "host": "192.0.2.10", "port": 104, "hospital_code": "T"}
    refused = api(admin.client, "post", "/api/v1/monitoring/checks", admin.token, body)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["host"][0].startswith("192.0.2.10")
    AllowedNetwork.objects.create(cidr="192.0.2.0/24", description="PACS VLAN")
    assert api(admin.client, "post", "/api/v1/monitoring/checks", admin.token, body).status_code == 201
    assert current_fence(max_age=0).allows("192.0.2.99")
    assert not current_fence(max_age=0).allows("198.51.100.1")


def test_dns_rebinding_is_caught_at_run_time(tiny, monkeypatch, loopback):
    answers = iter(["127.0.0.1", "10.66.0.1"])
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "his.rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    from hisguard.monitoring.actions import save_check

    check = save_check({"name": "rebind", "kind": "tcp", "host": "his.rebind.test", "port": loopback.tcp_port,
                        "hospital_code": "T"})  # fmt: skip
    result = asyncio.run(run_probe(Spec.from_check(check), Fence(["127.0.0.0/8"])))
    assert not result.ok and "10.66.0.1" in result.error and "outside" in result.error


def test_import_is_all_or_nothing(tiny, staff, loopback):
    admin = staff["network_admin"]
    rows = [
        tcp_check(loopback.tcp_port, name="one"),
        {"name": "two", "kind": "ping", "host": "192.0.2.1", "hospital_code": "T"},
    ]
    refused = api(admin.client, "post", "/api/v1/monitoring/checks/import", admin.token, rows)
    assert refused.status_code == 422 and "row 2" in refused.json()["error"]["fields"]
    assert not ActiveCheck.objects.exists()
    rows[1]["host"] = "localhost"
    assert (
        api(admin.client, "post", "/api/v1/monitoring/checks/import", admin.token, rows).json()["imported"]
        == 2
    )
    assert ActiveCheck.objects.count() == 2


def test_import_command_reads_csv(tiny, tmp_path, loopback):
    path = tmp_path / "checks.csv"
    path.write_text(
        "hospital_code,asset_hostname,name,kind,host,port,url,interval_seconds\n"
        f"T,CORE-1,core ping,ping,127.0.0.1,,,30\n"
        f"T,,HIS web,http,,,http://127.0.0.1:{loopback.http_port}/ok,60\n",
        encoding="utf-8",
    )
    call_command("monitoring_import", str(path))
    assert set(ActiveCheck.objects.values_list("name", "kind")) == {
        ("core ping", "ping"),
        ("HIS web", "http"),
    }
    path.write_text("name,kind,nonsense\nx,ping,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="nonsense"):
        call_command("monitoring_import", str(path))


def test_sources_heartbeats_alerts_warnings_and_mapping_by_api(tiny, staff):
    admin = staff["it_head"]
    created = api(
        admin.client,
        "post",
        "/api/v1/monitoring/sources",
        admin.token,
        {"name": "Prometheus", "kind": "alertmanager"},
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert IntakeSource.objects.get().token_hash == IntakeSource.hash(token)
    assert "token" not in api(admin.client, "get", "/api/v1/monitoring/sources", admin.token).json()[0]
    beat = api(admin.client, "post", "/api/v1/monitoring/heartbeats", admin.token,
               {"name": "PACS archive", "period_seconds": 3600, "system_code": "HIS"})  # fmt: skip
    assert beat.status_code == 201 and "/hb/" in beat.json()["ping_url"]
    nurse_view = api(
        staff["auditor"].client, "get", "/api/v1/monitoring/heartbeats", staff["auditor"].token
    ).json()
    assert "ping_url" not in nurse_view[0]
    ingest(tiny.hospital, "generic", [Notice("gen:x", "firing", "Mystery", {"instance": "192.0.2.5:9100"})])
    unmapped = api(admin.client, "get", "/api/v1/monitoring/alerts?unmapped=true", admin.token).json()
    assert [a["name"] for a in unmapped] == ["Mystery"]
    mapped = api(
        admin.client,
        "post",
        f"/api/v1/monitoring/alerts/{unmapped[0]['id']}/map",
        admin.token,
        {"asset": "SW-A2"},
    )
    assert mapped.json()["asset"] == "SW-A2" and mapped.json()["incident"]
    assert api(admin.client, "get", "/api/v1/monitoring/warnings", admin.token).status_code == 200
    window = api(admin.client, "post", "/api/v1/monitoring/maintenance", admin.token,
                 {"name": "DB patch", "starts_at": "2026-11-28T18:00:00Z", "ends_at": "2026-11-28T20:00:00Z", "asset_hostname": "DB-1"})  # fmt: skip
    assert window.status_code == 201, window.content


PAGES = [
    "/monitoring/", "/monitoring/checks/", "/monitoring/alerts/", "/monitoring/alerts/?status=resolved",
    "/monitoring/unmapped/", "/monitoring/warnings/", "/monitoring/heartbeats/", "/monitoring/maintenance/",
    "/monitoring/assets/DB-1/", "/monitoring/assets/SW-A1/",
]  # fmt: skip


def test_pages_show_state_chart_uptime_and_incidents(tiny, staff, loopback):
    check = ActiveCheck.objects.create(
        hospital=tiny.hospital, name="DB-1 listener", kind="tcp", host="127.0.0.1", port=loopback.tcp_port,
        asset=tiny.assets["DB-1"], system=tiny.systems["HIS"],
    )  # fmt: skip
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(
            active_check=check, at=now - datetime.timedelta(minutes=i), ok=i % 10 != 0, latency_ms=5.0 + i % 3
        )
        for i in range(1, 300)
    )
    ingest(
        tiny.hospital,
        "check",
        [
            Notice(
                f"check:{check.pk}",
                "firing",
                check.name,
                asset_id=tiny.assets["DB-1"].pk,
                active_check_id=check.pk,
            )
        ],
    )
    viewer = staff["auditor"].client
    for url in [*PAGES, f"/monitoring/checks/{check.pk}/", f"/monitoring/checks/{check.pk}/?range=30d",
                f"/monitoring/systems/{tiny.systems['HIS'].pk}/"]:  # fmt: skip
        response = viewer.get(url)
        assert response.status_code == 200, url
    page = viewer.get("/monitoring/assets/DB-1/").content.decode()
    assert "<polyline" in page and "DB-1 listener" in page
    assert Alert.objects.get().incident.number in page
    assert "90.3%" in page  # 270 of 299 samples ok in the last day
    assert viewer.get("/monitoring/checks/new/").status_code == 403
    assert Client().get("/monitoring/").status_code == 302


def test_pages_for_managers_create_and_map(tiny, staff, loopback):
    manager = staff["network_admin"].client
    response = manager.post("/monitoring/checks/new/", {"name": "HIS web", "kind": "http", "url": f"{loopback.http}/ok",
                                                         "hospital_code": "T", "expected_status": "200", "interval_seconds": 60,
                                                         "timeout_seconds": 5, "retries": 2, "retry_interval_seconds": 10,
                                                         "warn_days": 30, "dns_type": "A", "enabled": "on"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    check = ActiveCheck.objects.get()
    assert manager.get(f"/monitoring/checks/{check.pk}/edit/").status_code == 200
    sources = manager.post(
        "/monitoring/sources/",
        {
            "name": "Zabbix",
            "kind": "zabbix",
            "rate_limit_per_minute": 600,
            "enabled": "on",
            "hospital_code": "T",
        },
    )
    assert "hgi_" in sources.content.decode()
    manager.post(
        "/monitoring/heartbeats/",
        {
            "name": "backup",
            "period_seconds": 86400,
            "grace_seconds": 3600,
            "enabled": "on",
            "hospital_code": "T",
        },
    )
    assert Heartbeat.objects.count() == 1
    ingest(tiny.hospital, "generic", [Notice("gen:y", "firing", "Odd", {"node": "x"})])
    alert = Alert.objects.get()
    manager.post(f"/monitoring/alerts/{alert.pk}/map/", {"system_code": "LIS", "rule_label": ""})
    alert.refresh_from_db()
    assert alert.system.code == "LIS" and alert.incident is not None
    assert "Odd" not in manager.get("/monitoring/unmapped/").content.decode()
    assert manager.post(f"/monitoring/checks/{check.pk}/delete/").status_code == 302
    assert not ActiveCheck.objects.exists()
    assert json.loads(json.dumps({"ok": True}))


def test_admin_lists_and_forms(admin_client, tiny):
    for model in ("activecheck", "heartbeat", "intakesource", "mappingrule", "maintenancewindow", "alert",
                  "earlywarning", "checkernode", "allowednetwork"):  # fmt: skip
        assert admin_client.get(f"/admin/monitoring/{model}/").status_code == 200, model
    assert admin_client.get("/admin/monitoring/activecheck/add/").status_code == 200
    response = admin_client.post(
        "/admin/monitoring/intakesource/add/",
        {
            "hospital": tiny.hospital.pk,
            "name": "Grafana",
            "kind": "grafana",
            "rate_limit_per_minute": 600,
            "enabled": "on",
        },
        follow=True,
    )
    assert "hgi_" in response.content.decode()
    assert IntakeSource.objects.get().token_hash
