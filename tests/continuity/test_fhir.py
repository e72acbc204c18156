"""FHIR sources: the synthetic generator makes valid R4 resources; the REST connector follows
Bundle.link next pages and survives 500s, timeouts and truncated pages — and a pull that fails
in the end never replaces the last good snapshot."""

from __future__ import annotations

import json

import pytest

from hisguard.continuity import actions, synthetic
from hisguard.continuity.connectors import PullContext
from hisguard.continuity.connectors.fhir_rest import FhirRestConnector
from hisguard.continuity.models import Snapshot, WardPacket

from .conftest import NOW, TZ, patient_counts, ward_specs


def test_synthetic_patients_are_valid_fhir(fhir_data):
    resources = list(synthetic.iter_resources(fhir_data))
    kinds = {r["resourceType"] for r in resources}
    assert kinds >= {
        "Location", "Patient", "Encounter", "AllergyIntolerance", "MedicationRequest",
        "MedicationAdministration", "Observation", "ServiceRequest",
    }  # fmt: skip
    assert synthetic.validate(resources) == []
    assert synthetic.validate([{"resourceType": "Observation", "id": "x", "status": "final"}])  # no code
    # Chinese names and the same patients for the same seed.
    names = [r["name"][0]["text"] for r in resources if r["resourceType"] == "Patient"]
    assert all("\u4e00" <= name[0] <= "\u9fff" for name in names)
    again = synthetic.generate(ward_specs(), now=NOW, seed=7)
    assert json.dumps(again, sort_keys=True) == json.dumps(fhir_data, sort_keys=True)


def test_file_connector_makes_one_packet_per_ward(h3, file_connector, fhir_data, clock):
    snapshot = actions.run_snapshot(file_connector)
    assert snapshot.status == Snapshot.Status.OK, snapshot.error
    assert snapshot.as_of == NOW
    counts = patient_counts(fhir_data)
    packets = {p.ward.code: p for p in snapshot.packets.select_related("ward")}
    assert {code: p.patients for code, p in packets.items()} == counts
    data = packets["W1"].data()
    assert data["ward"] == {"code": "W1", "name": "心内科病区"}
    patient = data["patients"][0]
    assert patient["bed"] == "1床" or patient["bed"].endswith("床")
    assert {"allergies", "orders", "results", "pending"} <= set(patient)
    # Newborns get an age in days.
    newborn = packets["W3"].data()["patients"][0]
    assert newborn["birth"] is not None


def test_rest_connector_follows_next_pages(h3, rest_connector, fhir_server, fhir_data, clock):
    snapshot = actions.run_snapshot(rest_connector)
    assert snapshot.status == Snapshot.Status.OK, snapshot.error
    assert snapshot.patients == sum(patient_counts(fhir_data).values())
    encounter_pages = [r for r in fhir_server.requests if r.startswith("Encounter ")]
    assert len(encounter_pages) > 3, "the census spans several pages"
    fetched = snapshot.counts["fetched"]
    expected_obs = sum(1 for r in synthetic.iter_resources(fhir_data) if r["resourceType"] == "Observation")
    assert fetched["Observation"] == expected_obs
    assert snapshot.skipped == 0


def test_rest_connector_retries_500_and_truncated_pages(h3, rest_connector, fhir_server, clock):
    fhir_server.faults[("Encounter", 2)] = ["500", "truncated"]
    fhir_server.faults[("Observation", 1)] = ["500"]
    snapshot = actions.run_snapshot(rest_connector)
    assert snapshot.status == Snapshot.Status.OK, snapshot.error
    assert fhir_server.requests.count("Encounter 2") == 3


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (["500", "500", "500"], "HTTP 500"),
        (["truncated", "truncated", "truncated"], "not valid JSON"),
        (["foreign-next"], "another server"),
    ],
)
def test_failed_pull_keeps_the_last_good_snapshot(h3, rest_connector, fhir_server, clock, fault, message):
    good = actions.run_snapshot(rest_connector)
    assert good.status == Snapshot.Status.OK
    before = {p.ward_id: (p.pk, p.digest) for p in good.packets.all()}
    clock.shift(3600)
    fhir_server.faults[("Encounter", 2)] = list(fault)
    failed = actions.run_snapshot(rest_connector)
    assert failed.status == Snapshot.Status.FAILED
    assert message in failed.error
    assert not failed.packets.exists()
    for ward in h3.wards.values():
        latest = actions.latest_packet(ward)
        assert latest is not None and (latest.pk, latest.digest) == before[ward.pk]
    rest_connector.refresh_from_db()
    assert rest_connector.consecutive_failures == 1 and message in rest_connector.last_error
    assert WardPacket.objects.count() == len(before)


def test_timeout_fails_the_pull_without_waiting_long(h3, rest_connector, fhir_server, clock):
    rest_connector.config.update(timeout=0.3, retries=0)
    rest_connector.save()
    fhir_server.faults[("Encounter", 1)] = ["timeout"]
    snapshot = actions.run_snapshot(rest_connector)
    assert snapshot.status == Snapshot.Status.FAILED
    assert "did not answer" in snapshot.error


def test_bearer_token_is_sent_and_never_stored_in_clear(h3, rest_connector, fhir_server, clock):
    rest_connector.config["auth"] = "bearer"
    rest_connector.save()
    rest_connector.set_secret("s3cret-token")
    rest_connector.save()
    assert b"s3cret-token" not in bytes(rest_connector.sealed_secret)
    seen = []
    original = FhirRestConnector.client

    def spy(self):
        client = original(self)
        seen.append(client.headers.get("Authorization"))
        return client

    FhirRestConnector.client = spy  # type: ignore[method-assign]
    try:
        assert actions.run_snapshot(rest_connector).status == Snapshot.Status.OK
    finally:
        FhirRestConnector.client = original  # type: ignore[method-assign]
    assert seen == ["Bearer s3cret-token"]
    from hisguard.core.models import AuditLog

    assert not AuditLog.objects.filter(details__icontains="s3cret").exists()


def test_try_it_reads_a_sample_and_stores_nothing(h3, rest_connector, fhir_server, clock):
    result = actions.try_connector(rest_connector, limit=3)
    assert result["ok"], result
    assert result["counts"]["patients"] <= 5
    assert any("Encounter" in r for r in result["requests"])
    assert not Snapshot.objects.exists()
    fhir_server.faults[("Encounter", 1)] = ["500", "500", "500"]
    failed = actions.try_connector(rest_connector, limit=3)
    assert not failed["ok"] and "HTTP 500" in failed["error"]


def test_ndjson_files_with_a_bad_line(h3, tmp_path, fhir_data, clock):
    directory = tmp_path / "bulk"
    synthetic.write_ndjson(fhir_data, directory)
    with (directory / "Observation.ndjson").open("a") as handle:
        handle.write('{"resourceType": "Observation", "id": "cut-off", "sta\n')
    from hisguard.continuity.connectors.fhir_file import FhirFileConnector

    extract = FhirFileConnector({"path": str(directory)}).pull(PullContext(now=NOW, tz=TZ))
    assert any(
        i.resource == "Observation.ndjson:" + str(i.resource.rsplit(":", 1)[-1]) for i in extract.issues
    )
    bad = [i for i in extract.issues if i.code == "not_json"]
    assert len(bad) == 1 and bad[0].resource.startswith("Observation.ndjson:")
    assert len(extract.patients) == sum(patient_counts(fhir_data).values())
