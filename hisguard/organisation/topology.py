"""Walking the hospital's topology: what sits behind an asset, what a failure takes down."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from hisguard.organisation.models import Area, Asset, Hospital, InformationSystem


@dataclass(frozen=True)
class Impact:
    asset_ids: set[int]
    system_ids: set[int]
    area_ids: set[int]
    department_ids: set[int]


def building_of(area_id: int | None, parents: dict[int, int | None]) -> int | None:
    seen: set[int] = set()
    while area_id is not None and parents.get(area_id) is not None and area_id not in seen:
        seen.add(area_id)
        area_id = parents[area_id]
    return area_id


def area_parents(hospital: Hospital) -> dict[int, int | None]:
    return dict(Area.objects.filter(hospital=hospital).values_list("id", "parent_id"))


def impact_of(down_asset_ids: Iterable[int], hospital: Hospital) -> Impact:
    """Everything that depends on the given assets, through uplinks and declared dependencies."""
    rows = list(
        Asset.objects.filter(hospital=hospital).values_list("id", "upstream_id", "area_id", "department_id")
    )
    dependents: dict[int, set[int]] = defaultdict(set)
    for asset_id, upstream_id, _area, _dept in rows:
        if upstream_id is not None:
            dependents[upstream_id].add(asset_id)
    for asset_id, needs_id in Asset.depends_on.through.objects.filter(
        from_asset__hospital=hospital
    ).values_list("from_asset_id", "to_asset_id"):
        dependents[needs_id].add(asset_id)

    reached = set(down_asset_ids)
    frontier = list(reached)
    while frontier:
        node = frontier.pop()
        for child in dependents.get(node, ()):
            if child not in reached:
                reached.add(child)
                frontier.append(child)

    placement = {asset_id: (area_id, dept_id) for asset_id, _up, area_id, dept_id in rows}
    area_ids = {placement[a][0] for a in reached if a in placement and placement[a][0] is not None}
    department_ids = {placement[a][1] for a in reached if a in placement and placement[a][1] is not None}
    system_ids = set(
        InformationSystem.depends_on.through.objects.filter(
            informationsystem__hospital=hospital, asset_id__in=reached
        ).values_list("informationsystem_id", flat=True)
    )
    if system_ids:
        department_ids |= set(
            InformationSystem.departments.through.objects.filter(
                informationsystem_id__in=system_ids
            ).values_list("department_id", flat=True)
        )
    return Impact(reached, system_ids, area_ids, department_ids)
