"""Source data that does not validate is reported per record, naming the resource and the field;
the valid records still make the packet, and the packet says how many were skipped."""

from __future__ import annotations

import copy
import datetime

from hisguard.continuity import actions
from hisguard.continuity.connectors import PullContext
from hisguard.continuity.connectors.csv_files import CsvConnector
from hisguard.continuity.connectors.fhir import Index, map_index
from hisguard.continuity.models import Snapshot
from hisguard.continuity.present import issue_message, present
from hisguard.continuity.shape import (
    Order,
    Ward,
    WardResolver,
    build_packets,
    due_times,
)

from .conftest import NOW, TZ, WARDS, patient_counts, write_bundles


def _find(resources, kind, predicate=lambda r: True):
    return next(r for r in resources if r["resourceType"] == kind and predicate(r))


def broken_copy(fhir_data):
    """Three bad records in ward W1: a malformed observation, a patient without a bed, and a
    patient in a ward the hospital does not have."""
    data = copy.deepcopy(fhir_data)
    w1 = data["W1"]
    obs = _find(w1, "Observation")
    obs["valueQuantity"] = {"value": "twelve", "unit": "mmol/L"}
    encounters = [r for r in w1 if r["resourceType"] == "Encounter"]
    no_bed, elsewhere = encounters[1], encounters[2]
    no_bed["location"] = [e for e in no_bed["location"] if e["physicalType"]["coding"][0]["code"] != "bd"]
    elsewhere["location"][0]["location"]["reference"] = "Location/ward-ZZ"
    elsewhere["location"] = elsewhere["location"][:1]
    w1.append(
        {
            "resourceType": "Location",
            "id": "ward-ZZ",
            "identifier": [{"system": "urn:hisguard:demo:ward", "value": "ZZ"}],
            "name": "不存在的病区",
            "physicalType": {"coding": [{"code": "wa"}]},
        }
    )
    return data, obs, no_bed, elsewhere


def test_bad_records_are_reported_and_the_rest_make_the_packet(h3, tmp_path, fhir_data, clock):
    data, obs, no_bed, elsewhere = broken_copy(fhir_data)
    write_bundles(tmp_path / "fhir", data)
    from hisguard.continuity.models import Connector

    connector = Connector.objects.create(
        hospital=h3.hospital, name="files", kind="fhir_file",
        config={"path": str(tmp_path / "fhir"), "ward_system": "urn:hisguard:demo:ward"},
    )  # fmt: skip
    snapshot = actions.run_snapshot(connector)
    assert snapshot.status == Snapshot.Status.OK
    issues = snapshot.issues()
    by_resource = {i["r"]: i for i in issues}
    assert by_resource[f"Observation/{obs['id']}"]["f"] == "valueQuantity.value"
    assert by_resource[f"Observation/{obs['id']}"]["c"] == "invalid"
    assert by_resource[f"Encounter/{no_bed['id']}"]["f"] == "bed"
    assert by_resource[f"Encounter/{no_bed['id']}"]["c"] == "missing"
    assert by_resource[f"Encounter/{elsewhere['id']}"]["f"] == "ward"
    assert by_resource[f"Encounter/{elsewhere['id']}"]["c"] == "unknown_ward"
    assert "ZZ" in issue_message(by_resource[f"Encounter/{elsewhere['id']}"])

    counts = patient_counts(fhir_data)
    w1 = actions.latest_packet(h3.wards["W1"])
    assert w1.patients == counts["W1"] - 2
    assert actions.latest_packet(h3.wards["W2"]).patients == counts["W2"]
    packet = w1.data()
    # The bed-less patient is skipped with their own records; the unreadable result counts once,
    # on its patient, whose row says so.
    assert packet["skipped"] >= 2
    assert packet["unassigned"] >= 1
    obs_patient = obs["subject"]["reference"].split("/")[1]
    row = next(p for p in packet["patients"] if p["id"] == obs_patient)
    assert row["skipped"] == 1
    view = present(packet)
    assert view["skipped"] == packet["skipped"]
    assert any("bed" in i["message"] for i in view["issues"])


def test_missing_and_duplicate_fields_name_the_field():
    index = Index()
    index.add({"resourceType": "Patient"}, "page 1 entry 3")
    index.add("not an object", "page 1 entry 4")
    index.add({"resourceType": "Encounter", "id": "e1", "status": "in-progress"}, "page 1 entry 5")
    index.add(
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": {"reference": "Patient/nobody"},
            "code": {},
        },
        "page 2",
    )
    extract = map_index(index, TZ, {})
    issues = {(i.resource, i.field, i.code) for i in extract.issues}
    assert ("Patient (page 1 entry 3)", "id", "missing") in issues
    assert ("page 1 entry 4", "resource", "not_object") in issues
    assert ("Encounter/e1", "subject", "missing") in issues


def test_csv_rows_with_bad_values(h3, tmp_path, clock):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "id,mrn,name,ward,bed,sex,birth_date,diagnosis\n"
        "p1,ZY1,张三,心内科病区,1床,男,1950-02-03,心衰\n"
        "p2,ZY2,李四,W1,,女,1960-01-01,肺炎\n"
        "p3,ZY3,王五,W2,3床,M,1970-13-40,骨折\n"
        "p4,ZY4,赵六,W2,4床,F,1980-05-05,阑尾炎\n",
        encoding="gb18030",
    )
    (folder / "allergies.csv").write_text(
        "patient_id,substance,reaction\np1,青霉素,皮疹\np4,,荨麻疹\n", encoding="gb18030"
    )
    (folder / "orders.csv").write_text(
        "id,patient_id,drug,dose,route,frequency,times\n"
        "o1,p1,呋塞米,20mg,静注,bid,\n"
        "o2,p4,头孢曲松,2g,静滴,qd,25:99\n",
        encoding="gb18030",
    )
    connector = CsvConnector({"directory": str(folder), "encoding": "gb18030"})
    extract = connector.pull(PullContext(now=NOW, tz=TZ))
    issues = {(i.resource, i.field, i.code) for i in extract.issues}
    assert ("csv patients row 2", "bed", "missing") in issues
    assert ("csv patients row 3", "birth_date", "invalid") in issues
    assert ("csv allergies row 2", "substance", "missing") in issues
    assert ("csv orders row 2", "times", "invalid") in issues
    result = build_packets(extract, WardResolver([Ward(c, n) for c, n, _b in WARDS]), as_of=NOW, tz=TZ)
    assert [p["name"] for p in result.packets["W1"]["patients"]] == ["张三"]  # matched by ward name
    assert [p["name"] for p in result.packets["W2"]["patients"]] == ["赵六"]
    assert result.packets["W1"]["skipped"] == 1  # p2, no bed
    assert result.packets["W2"]["skipped"] == 3  # p3 (birth date), p4's allergy and order
    zhao = result.packets["W2"]["patients"][0]
    assert zhao["skipped"] == 2 and zhao["allergies"] == [] and zhao["orders"] == []


def test_administration_schedule_for_the_next_24_hours():
    table = {"tid": ("08:00", "12:00", "16:00"), "q8h": ("00:00", "08:00", "16:00")}
    start = datetime.datetime(2025, 3, 10, 8, 0, tzinfo=TZ)
    tid = Order("o", "p", "药", frequency="tid", start=start)
    due = [d.strftime("%d %H:%M") for d in due_times(tid, NOW, TZ, table)]
    assert due == ["12 12:00", "12 16:00", "13 08:00"]
    ending = Order("o", "p", "药", frequency="q8h", start=start, end=NOW + datetime.timedelta(hours=10))
    assert [d.strftime("%H:%M") for d in due_times(ending, NOW, TZ, table)] == ["16:00"]
    explicit = Order("o", "p", "药", times=("09:45", "21:00"), start=start)
    assert [d.strftime("%d %H:%M") for d in due_times(explicit, NOW, TZ, table)] == ["12 09:45", "12 21:00"]
    assert due_times(Order("o", "p", "药", frequency="prn", prn=True), NOW, TZ, table) == []
