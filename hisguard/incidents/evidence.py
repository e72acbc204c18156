"""Gathering an incident's evidence from the database for the classifier."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from django.db import connection

from hisguard.core import sql
from hisguard.incidents.classification import DownAsset, DownSystem, Evidence, ReportFact, Thresholds
from hisguard.incidents.models import ClassificationPolicy, Incident, IncidentAsset
from hisguard.organisation.models import Asset, Hospital, InformationSystem

# Other parts say which systems they know to be down in an incident (monitoring: firing
# alerts mapped to a system); each provider returns system ids.
DOWN_SYSTEM_PROVIDERS: list[Callable[[Incident], Iterable[int]]] = []


def thresholds_for(hospital: Hospital) -> Thresholds:
    """The hospital's thresholds, read once per loaded hospital row.

    Kept on the instance: a request loads its hospital once, so a changed policy applies to
    the next request, and correlation and classification of one report share one read (or
    none, when the policy came with the hospital through ``select_related``)."""
    cached = hospital.__dict__.get("_hisguard_thresholds")
    if cached is None:
        try:
            policy = hospital.classification_policy
        except ClassificationPolicy.DoesNotExist:
            policy, _ = ClassificationPolicy.objects.get_or_create(hospital=hospital)
        cached = hospital.__dict__["_hisguard_thresholds"] = Thresholds.from_policy(policy)
    return cached


def gather(
    incident: Incident, thresholds: Thresholds, now: datetime.datetime, down_system_ids: Iterable[int] = ()
) -> Evidence:
    """The facts the classifier needs: the incident's reports within the window, its down
    assets, the departments using the systems named, and the systems known to be down.

    The reads are hand-written SQL (see hisguard.core.sql): this runs for nearly every report."""
    from hisguard.reporting.models import FaultReport

    table = sql.tables(FaultReport, IncidentAsset, InformationSystem, InformationSystem.departments.through)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at, workstation_id, access_switch_id, area_id, building_id, department_id,"
            f" system_id FROM {table[FaultReport]} WHERE incident_id = %s AND created_at >= %s",
            [incident.pk, sql.datetime_param(now - thresholds.window)],
        )
        reports = [ReportFact(sql.datetime_value(row[0]), *row[1:]) for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT asset_id FROM {table[IncidentAsset]} WHERE incident_id = %s AND is_down = %s ORDER BY id",
            [incident.pk, True],
        )
        down_asset_ids = [row[0] for row in cursor.fetchall()]
        system_ids = sorted({r.system_id for r in reports if r.system_id is not None})
        system_departments: dict[int, set[int]] = {sid: set() for sid in system_ids}
        labels: dict[int, str] = {}
        if system_ids:
            cursor.execute(
                f"SELECT informationsystem_id, department_id FROM {table[InformationSystem.departments.through]}"
                f" WHERE informationsystem_id IN ({sql.placeholders(len(system_ids))})",
                system_ids,
            )
            for system_id, department_id in cursor.fetchall():
                system_departments[system_id].add(department_id)
            cursor.execute(
                f"SELECT id, code FROM {table[InformationSystem]} WHERE id IN ({sql.placeholders(len(system_ids))})",
                system_ids,
            )
            labels = dict(cursor.fetchall())
    assets = Asset.objects.in_bulk(down_asset_ids) if down_asset_ids else {}
    down = [DownAsset(pk, assets[pk].kind, str(assets[pk])) for pk in down_asset_ids if pk in assets]
    down_ids = set(down_system_ids)
    for provider in DOWN_SYSTEM_PROVIDERS:
        down_ids.update(provider(incident))
    down_systems = [
        DownSystem(s.pk, s.criticality, s.code)
        for s in (InformationSystem.objects.filter(pk__in=down_ids).order_by("code") if down_ids else [])
    ]
    return Evidence(
        reports=reports,
        down_assets=down,
        system_departments=system_departments,
        system_labels=labels,
        down_systems=down_systems,
    )
