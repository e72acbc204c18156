"""Alert intake with the payloads Alertmanager, Grafana and Zabbix send (fixtures/), each
source with its own token; whole batches, deduplication, resolves, overload, and a storm."""

from __future__ import annotations

import datetime
import json
import random
import re
import threading

import pytest
import time_machine
from django.db import connection

from hisguard.incidents.models import Incident, TimelineEntry
from hisguard.monitoring import alerts, intake
from hisguard.monitoring.models import Alert

from .conftest import payload

T0 = datetime.datetime(2026, 11, 25, 2, 0, 5, tzinfo=datetime.UTC)
Kind = TimelineEntry.Kind


def test_alertmanager_firing_then_resolved(make_source):
    am = make_source("alertmanager")
    response = am.post(payload("alertmanager_firing.json"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["created"], body["unmapped"]) == (2, 2, 1)
    core = Alert.objects.get(fingerprint="am:3c5d8e0e6a7b9f01")
    assert core.asset.hostname == "CORE-1" and core.summary.startswith("Switch 10.10.0.1")
    assert core.starts_at == datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)
    assert core.intake_source == am.source
    incident = Incident.objects.get()
    assert body["incidents"] == [incident.pk] and incident.hospital_class == 1
    unmapped = Alert.objects.get(fingerprint="am:9a1b2c3d4e5f6071")
    assert not unmapped.is_mapped and unmapped.incident is None

    again = am.post(payload("alertmanager_firing.json")).json()
    assert (again["created"], again["duplicates"]) == (0, 2)
    assert Alert.objects.count() == 2 and Alert.objects.get(pk=core.pk).received_count == 2

    resolved = am.post(payload("alertmanager_resolved.json")).json()
    assert resolved["resolved"] == 2
    core.refresh_from_db()
    assert core.status == "resolved"
    assert core.ends_at == datetime.datetime(2026, 11, 25, 2, 25, tzinfo=datetime.UTC)
    incident.refresh_from_db()
    assert incident.timeline.get(kind=Kind.ALERT_RESOLVED).data["all_clear"]
    assert incident.is_open


def test_alertmanager_system_alert_by_service_label(make_source):
    am = make_source("alertmanager")
    assert am.post(payload("alertmanager_his_down.json")).status_code == 200
    incident = Incident.objects.get()
    assert incident.hospital_class == 1
    assert incident.class_reasons[0]["code"] == "critical_system_down"


def test_alertmanager_needs_payload_version_4(make_source):
    am = make_source("alertmanager")
    body = payload("alertmanager_firing.json")
    body["version"] = "3"
    response = am.post(body)
    assert response.status_code == 422
    assert response.json()["error"]["messages"]["en"].startswith("Expected an Alertmanager")
    assert not Alert.objects.exists()


def test_grafana_firing_and_resolved(make_source):
    grafana = make_source("grafana")
    assert grafana.post(payload("grafana_firing.json")).status_code == 200
    alert = Alert.objects.get()
    assert alert.fingerprint == "gf:c6eadffa33fcdf37" and alert.system.code == "LIS"
    assert alert.starts_at == datetime.datetime(2026, 11, 25, 2, 51, 3, 157076, tzinfo=datetime.UTC)
    incident = Incident.objects.get()
    assert incident.hospital_class == 2
    assert grafana.post(payload("grafana_resolved.json")).json()["resolved"] == 1
    assert Alert.objects.get().status == "resolved"


def test_zabbix_problem_and_recovery(make_source):
    zabbix = make_source("zabbix")
    assert zabbix.post(payload("zabbix_problem.json")).status_code == 200
    alert = Alert.objects.get()
    assert alert.fingerprint == "zbx:4381202" and alert.asset.hostname == "SW-A1"
    assert alert.labels["interface"] == "Gi1/0/48" and alert.severity == "high"
    assert alert.starts_at == datetime.datetime(
        2026, 11, 25, 2, 2, 11, tzinfo=datetime.UTC
    )  # 10:02:11 in Beijing
    assert Incident.objects.get().hospital_class == 2
    update = {**payload("zabbix_problem.json"), "event_update_status": "1"}
    assert zabbix.post(update).json()["duplicates"] == 1
    recovered = zabbix.post(payload("zabbix_recovery.json")).json()
    assert recovered["resolved"] == 1
    alert.refresh_from_db()
    assert alert.ends_at == datetime.datetime(2026, 11, 25, 2, 17, 40, tzinfo=datetime.UTC)


def test_generic_json(make_source):
    generic = make_source("generic")
    response = generic.post(payload("generic.json"), query_token=True)
    assert response.status_code == 200, response.content
    alert = Alert.objects.get()
    assert alert.asset.hostname == "DB-1" and alert.fingerprint.startswith("gen:")
    assert Incident.objects.get().hospital_class == 1
    single = {"name": "Printer jam", "labels": {"host": "PC-A1-1"}}
    assert generic.post(single).json()["created"] == 1


def test_tokens_are_per_source(make_source):
    am, grafana = make_source("alertmanager"), make_source("grafana")
    body = payload("alertmanager_firing.json")
    assert (
        am.client.post("/api/v1/intake/alertmanager", data=body, content_type="application/json").status_code
        == 401
    )
    wrong = am.client.post(
        "/api/v1/intake/alertmanager",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer nope",
    )
    assert wrong.status_code == 401
    assert grafana.post(body, kind="alertmanager").status_code == 403
    am.source.enabled = False
    am.source.save()
    assert am.post(body).status_code == 401
    assert not Alert.objects.exists()


def test_a_bad_alert_refuses_the_whole_batch(make_source):
    am = make_source("alertmanager")
    body = payload("alertmanager_firing.json")
    body["alerts"][1]["labels"] = "instance=10.99.9.9"
    assert am.post(body).status_code == 422
    assert am.post("{not json").status_code == 400
    assert not Alert.objects.exists()


def test_a_failure_midway_stores_nothing(tiny, monkeypatch):
    calls = []

    def explode(alert, now, reach=None):
        calls.append(alert)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return None

    monkeypatch.setattr(alerts, "raise_evidence", explode)
    notices = [
        alerts.Notice(f"f{i}", "firing", "Down", {"host": h}) for i, h in enumerate(["SW-A1", "SW-B1"])
    ]
    with pytest.raises(RuntimeError):
        alerts.ingest(tiny.hospital, "generic", notices)
    assert not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_accepted_batch_is_committed_before_the_answer(make_source):
    am = make_source("alertmanager")
    assert am.post(payload("alertmanager_firing.json")).status_code == 200
    assert not connection.in_atomic_block
    seen = []

    def other_connection() -> None:
        from django.db import connections

        seen.append(Alert.objects.count())
        connections.close_all()

    thread = threading.Thread(target=other_connection)
    thread.start()
    thread.join()
    assert seen == [2]


def test_over_its_rate_a_source_gets_429_but_resolves_still_pass(make_source):
    am = make_source("alertmanager", rate_limit_per_minute=60)  # 10 per 10-second window
    firing = payload("alertmanager_firing.json")
    more = json.loads(json.dumps(firing))
    for alert in more["alerts"]:
        alert["fingerprint"] += "-2"
    with time_machine.travel(T0, tick=False) as clock:
        big = {**firing, "alerts": firing["alerts"] * 5}  # a fresh window takes any one batch
        assert am.post(big).status_code == 200
        refused = am.post(more)
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 10
        assert refused.json()["error"]["code"] == "too_many_alerts"
        assert Alert.objects.count() == 2
        assert am.post(payload("alertmanager_resolved.json")).status_code == 200
        assert Alert.objects.filter(status="resolved").count() == 2
        clock.shift(datetime.timedelta(seconds=10))
        assert am.post(more).status_code == 200
    assert Alert.objects.count() == 4


def test_when_busy_firing_batches_get_429(make_source, settings):
    settings.HISGUARD_INTAKE_MAX_INFLIGHT = 1
    settings.HISGUARD_INTAKE_SLOT_WAIT_SECONDS = 0.01
    intake.reset_slots()
    am = make_source("alertmanager")
    slot = intake.slots()
    slot.acquire()
    try:
        busy = am.post(payload("alertmanager_firing.json"))
        assert busy.status_code == 429 and busy["Retry-After"] == "2"
    finally:
        slot.release()
    assert am.post(payload("alertmanager_firing.json")).status_code == 200


def test_a_storm_of_10000_alerts_over_500_fingerprints(make_source, tiny):
    """The core switch fails: every monitor screams about everything behind it, repeatedly."""
    names = [f"Alert{i:02d}" for i in range(16)]
    behind_core = list(tiny.assets)  # all 30 behind the core, or (UPS-1) needed by what is (DB-1)
    mapped = [(name, host) for host in behind_core for name in names]  # 30 x 16 = 480
    unmapped = [(f"Unknown{i}", f"10.99.{i}.1:9100") for i in range(500 - len(mapped))]
    fingerprints = mapped + unmapped
    assert len(fingerprints) == 500

    def alert(name: str, instance: str, status: str = "firing") -> dict:
        return {
            "status": status,
            "labels": {"alertname": name, "instance": instance, "job": "node"},
            "annotations": {"summary": f"{name} on {instance}"},
            "startsAt": "2026-11-25T02:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T02:30:00Z",
            "generatorURL": "http://prometheus.hospital.local:9090/graph",
            "fingerprint": f"{abs(hash((name, instance))):016x}"[:16],
        }

    rng = random.Random(4)
    # Worst case: every symptom first, the root cause (the core switch) last of the first round.
    first_round = rng.sample(fingerprints, len(fingerprints))
    first_round.sort(key=lambda f: f[1] == "CORE-1")
    order = first_round + [rng.choice(fingerprints) for _ in range(9500)]
    am = make_source("alertmanager", rate_limit_per_minute=0)
    for start in range(0, len(order), 50):
        batch = [alert(n, i) for n, i in order[start : start + 50]]
        response = am.post({"version": "4", "status": "firing", "receiver": "hisguard", "alerts": batch})
        assert response.status_code == 200, response.content

    assert Alert.objects.count() == 500
    assert Alert.objects.filter(asset__isnull=True, system__isnull=True).count() == len(unmapped)
    # The topology explains every mapped alert as one fault: one open incident; the ones the
    # symptoms opened before the core's alert arrived were merged into it.
    incident = Incident.objects.get(status="reported")
    assert incident.hospital_class == 1
    for merged in Incident.objects.exclude(pk=incident.pk):
        target = merged
        while target.status == "resolved":  # merged into one that may itself have been merged
            number = re.search(r"INC-\d+-\d+", target.timeline.get(kind=Kind.STATUS).text).group(0)
            target = Incident.objects.get(number=number)
        assert target == incident
    assert Alert.objects.filter(incident=incident).count() == len(mapped)
    assert TimelineEntry.objects.filter(kind=Kind.ALERT).count() == len(behind_core)  # one per asset
    assert sum(Alert.objects.values_list("received_count", flat=True)) == 10000

    for start in range(0, 500, 50):
        batch = [alert(n, i, "resolved") for n, i in fingerprints[start : start + 50]]
        assert am.post({"version": "4", "status": "resolved", "alerts": batch}).status_code == 200
    assert not Alert.objects.filter(status="firing").exists()
    assert incident.timeline.filter(kind=Kind.ALERT_RESOLVED, data__all_clear=True).count() == 1
    incident.refresh_from_db()
    assert incident.is_open and not incident.asset_links.filter(is_down=True).exists()
