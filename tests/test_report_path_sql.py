"""The report path's hand-written SQL gives what the ORM gives (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hisguard.core.sequences import next_in_sequence
from hisguard.incidents.evidence import gather, thresholds_for
from hisguard.incidents.models import Incident, IncidentAsset
from hisguard.organisation.lookup import find_reporter, reporter_by_token
from hisguard.organisation.models import REPORTER_RELATIONS, Asset
from hisguard.reporting.models import FaultReport

from .conftest import api_report


def _related_values(asset: Asset) -> list:
    """Everything a report reads through the relations, as plain values."""
    area = asset.area
    return [
        asset.hostname,
        asset.report_token,
        asset.is_active,
        asset.hospital.code,
        asset.hospital.classification_policy.window_minutes,
        asset.department.code if asset.department else None,
        [area.code, area.parent.code if area.parent else None] if area else None,
        [a.hostname for a in asset.upstream_chain()],
    ]


def test_a_workstation_loads_with_its_place_path_and_policy_in_one_query(tiny):
    ws = tiny.ws("PC-A1-1")
    expected = Asset.objects.select_related(*REPORTER_RELATIONS).get(pk=ws.pk)
    with CaptureQueriesContext(connection) as queries:
        loaded = reporter_by_token(ws.report_token)
        assert loaded is not None
        values = _related_values(loaded)
    assert len(queries) == 1
    assert (
        values
        == _related_values(expected)
        == [
            "PC-A1-1",
            ws.report_token,
            True,
            "T",
            10,
            "DA1",
            ["A1", "A"],
            ["SW-A1", "DIST-A", "CORE-1"],
        ]
    )
    assert loaded == expected and loaded.hospital == expected.hospital


def test_missing_relations_load_as_none_without_a_query(tiny):
    core = tiny.assets["CORE-1"]
    tiny.hospital.classification_policy.delete()
    loaded = find_reporter("core-1")  # any case falls back to the ORM: same shape
    exact = find_reporter("CORE-1")
    assert reporter_by_token("no-such-token") is None
    for asset in (loaded, exact):
        assert asset is not None and asset.pk == core.pk
        with CaptureQueriesContext(connection) as queries:
            assert asset.upstream is None and asset.department is None and asset.area is None
        assert len(queries) == 0
    # A hospital without a policy row gets the plan's defaults, created on first use.
    assert thresholds_for(exact.hospital).window == datetime.timedelta(minutes=10)


def test_sequences_count_per_name_and_day_in_one_statement(db):
    day = datetime.date(2025, 3, 12)
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            numbers = [next_in_sequence("report", day) for _ in range(3)]
        assert len(queries) == 3
        assert next_in_sequence("incident", day) == 1
        assert next_in_sequence("report", day + datetime.timedelta(days=1)) == 1
    assert numbers == [1, 2, 3]


def test_evidence_reads_the_window_as_aware_times(tiny, client):
    for host in ("PC-A1-1", "PC-A1-2"):
        api_report(client, tiny.ws(host), system="HIS")
    report = FaultReport.objects.select_related("incident").latest("created_at")
    incident = report.incident
    now = timezone.now()
    evidence = gather(incident, thresholds_for(incident.hospital), now)
    assert sorted(r.workstation_id for r in evidence.reports) == sorted(
        [tiny.ws("PC-A1-1").pk, tiny.ws("PC-A1-2").pk]
    )
    assert all(
        r.at == FaultReport.objects.get(workstation_id=r.workstation_id).created_at for r in evidence.reports
    )
    assert evidence.system_labels == {tiny.systems["HIS"].pk: "HIS"}
    assert evidence.system_departments[tiny.systems["HIS"].pk] == set(
        tiny.systems["HIS"].departments.values_list("pk", flat=True)
    )
    later = gather(incident, thresholds_for(incident.hospital), now + datetime.timedelta(minutes=11))
    assert later.reports == []  # outside the window


def _link_writes(queries) -> list[str]:
    """The evidence-link INSERTs among a report's statements (PostgreSQL may send several as
    the data-modifying CTEs of one statement)."""
    link_tables = [
        connection.ops.quote_name(t._meta.db_table)
        for t in (
            Incident.systems.through,
            Incident.areas.through,
            Incident.departments.through,
            IncidentAsset,
        )
    ]
    return [
        table for q in queries for table in link_tables for _ in range(q["sql"].count(f"INSERT INTO {table}"))
    ]


def test_a_report_writes_only_the_links_its_incident_lacks_and_a_new_system_regrades_it(tiny, client):
    first = api_report(client, tiny.ws("PC-A1-1"), system="LIS").json()["incident"]
    incident = Incident.objects.get(pk=first["id"])
    assert incident.system_importance == "important"
    with CaptureQueriesContext(connection) as queries:
        again = api_report(client, tiny.ws("PC-A1-1"), system="LIS").json()["incident"]
    assert again["id"] == first["id"]
    assert _link_writes(queries) == []  # system, area, department and workstation all there
    with CaptureQueriesContext(connection) as queries:
        api_report(client, tiny.ws("PC-A1-1"), symptom="cannot_save", system="HIS")
    assert len(_link_writes(queries)) == 1  # the new system only
    incident.refresh_from_db()
    assert set(incident.systems.values_list("code", flat=True)) == {"LIS", "HIS"}
    assert incident.system_importance == "critical"  # HIS is especially important
    assert incident.asset_links.count() == 1 and incident.areas.count() == incident.departments.count() == 1
