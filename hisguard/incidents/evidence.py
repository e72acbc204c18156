"""Gathering an incident's evidence from the database for the classifier."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from hisguard.incidents.classification import DownAsset, DownSystem, Evidence, ReportFact, Thresholds
from hisguard.incidents.models import ClassificationPolicy, Incident, IncidentAsset
from hisguard.organisation.models import Hospital, InformationSystem

# Other parts say which systems they know to be down in an incident (monitoring: firing
# alerts mapped to a system); each provider returns system ids.
DOWN_SYSTEM_PROVIDERS: list[Callable[[Incident], Iterable[int]]] = []


def thresholds_for(hospital: Hospital) -> Thresholds:
    policy, _ = ClassificationPolicy.objects.get_or_create(hospital=hospital)
    return Thresholds.from_policy(policy)


def gather(
    incident: Incident, thresholds: Thresholds, now: datetime.datetime, down_system_ids: Iterable[int] = ()
) -> Evidence:
    from hisguard.reporting.models import FaultReport

    rows = FaultReport.objects.filter(incident=incident, created_at__gte=now - thresholds.window).values_list(
        "created_at",
        "workstation_id",
        "access_switch_id",
        "area_id",
        "building_id",
        "department_id",
        "system_id",
    )
    reports = [ReportFact(*row) for row in rows]
    down = [
        DownAsset(link.asset_id, link.asset.kind, str(link.asset))
        for link in IncidentAsset.objects.filter(incident=incident, is_down=True).select_related("asset")
    ]
    system_ids = {r.system_id for r in reports if r.system_id is not None}
    system_departments: dict[int, set[int]] = {sid: set() for sid in system_ids}
    for system_id, department_id in InformationSystem.departments.through.objects.filter(
        informationsystem_id__in=system_ids
    ).values_list("informationsystem_id", "department_id"):
        system_departments[system_id].add(department_id)
    labels = {s.pk: s.code for s in InformationSystem.objects.filter(pk__in=system_ids)}
    down_ids = set(down_system_ids)
    for provider in DOWN_SYSTEM_PROVIDERS:
        down_ids.update(provider(incident))
    down_systems = [
        DownSystem(s.pk, s.criticality, s.code)
        for s in InformationSystem.objects.filter(pk__in=down_ids).order_by("code")
    ]
    return Evidence(
        reports=reports,
        down_assets=down,
        system_departments=system_departments,
        system_labels=labels,
        down_systems=down_systems,
    )
