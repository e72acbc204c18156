"""DESIGN §4 as a pure function: evidence in, a class and its reasons out.

Kept free of the database so every rule can be tested on its own; `evidence.py` gathers
the facts for a real incident.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from hisguard.organisation.models import Asset, InformationSystem

# Assets whose failure takes down the whole hospital (一类) or an area (二类).
CLASS_I_KINDS = {
    Asset.Kind.CORE_SWITCH,
    Asset.Kind.BACKBONE_LINK,
    Asset.Kind.SERVER,
    Asset.Kind.DATABASE,
    Asset.Kind.STORAGE,
    Asset.Kind.POWER,
    Asset.Kind.COOLING,
}
CLASS_II_KINDS = {Asset.Kind.ACCESS_SWITCH, Asset.Kind.DISTRIBUTION_SWITCH, Asset.Kind.AREA_LINK}


@dataclass(frozen=True)
class ReportFact:
    at: datetime.datetime
    workstation_id: int | None
    access_switch_id: int | None
    area_id: int | None
    building_id: int | None
    department_id: int | None
    system_id: int | None


@dataclass(frozen=True)
class DownAsset:
    asset_id: int
    kind: str
    label: str


@dataclass(frozen=True)
class DownSystem:
    """An information system reported down by an alert (a check or an existing monitor)."""

    system_id: int
    criticality: str
    label: str


@dataclass(frozen=True)
class Thresholds:
    window: datetime.timedelta = datetime.timedelta(minutes=10)
    class2_same_switch: int = 2
    class2_same_area: int = 2
    class2_system_departments: int = 2
    class1_buildings: int = 3
    class1_department_share: int = 30  # percent

    @classmethod
    def from_policy(cls, policy) -> Thresholds:
        return cls(
            window=datetime.timedelta(minutes=policy.window_minutes),
            class2_same_switch=policy.class2_same_switch,
            class2_same_area=policy.class2_same_area,
            class2_system_departments=policy.class2_system_departments,
            class1_buildings=policy.class1_buildings,
            class1_department_share=policy.class1_department_share,
        )


@dataclass
class Evidence:
    reports: list[ReportFact] = field(default_factory=list)
    down_assets: list[DownAsset] = field(default_factory=list)
    # For each system named in the reports: the departments that use it.
    system_departments: dict[int, set[int]] = field(default_factory=dict)
    system_labels: dict[int, str] = field(default_factory=dict)
    down_systems: list[DownSystem] = field(default_factory=list)


@dataclass(frozen=True)
class Reason:
    """Why a class applies; `code` picks the sentence, `params` fill it in."""

    level: int
    code: str
    params: dict

    def as_json(self) -> dict:
        return {"level": self.level, "code": self.code, "params": self.params}


@dataclass(frozen=True)
class Classification:
    level: int
    reasons: list[Reason]


REASON_TEXT = {
    "core_asset_down": _("Core asset %(asset)s is down"),
    "area_asset_down": _("Area infrastructure %(asset)s is down"),
    "critical_system_down": _("Especially important system %(system)s is down"),
    "system_down": _("System %(system)s is down"),
    "buildings": _("Reports from %(count)s buildings within %(minutes)s minutes"),
    "system_share": _(
        "%(count)s of %(total)s departments using %(system)s reported it within %(minutes)s minutes"
    ),
    "same_switch": _("%(count)s workstations behind the same switch within %(minutes)s minutes"),
    "same_area": _("%(count)s workstations in the same area within %(minutes)s minutes"),
    "system_departments": _("%(count)s departments reported %(system)s within %(minutes)s minutes"),
    "single_point": _("A single workstation or terminal is affected"),
    "manual": _("Set by %(actor)s: %(reason)s"),
}


def describe(reason: dict) -> str:
    template = REASON_TEXT.get(reason.get("code", ""))
    if template is None:
        return str(reason.get("code", ""))
    try:
        return str(template) % reason.get("params", {})
    except (KeyError, TypeError, ValueError):
        return str(template)


def classify(evidence: Evidence, thresholds: Thresholds, now: datetime.datetime) -> Classification:
    reasons: list[Reason] = []
    minutes = int(thresholds.window.total_seconds() // 60)

    for asset in evidence.down_assets:
        if asset.kind in CLASS_I_KINDS:
            reasons.append(Reason(1, "core_asset_down", {"asset": asset.label}))
        elif asset.kind in CLASS_II_KINDS:
            reasons.append(Reason(2, "area_asset_down", {"asset": asset.label}))

    # A system down (by an alert): the whole hospital when it is especially important (特别重要),
    # otherwise the departments that use it.
    for system in evidence.down_systems:
        if system.criticality == InformationSystem.Criticality.CRITICAL:
            reasons.append(Reason(1, "critical_system_down", {"system": system.label}))
        else:
            reasons.append(Reason(2, "system_down", {"system": system.label}))

    recent = [r for r in evidence.reports if now - thresholds.window <= r.at <= now]
    reasons += _building_reasons(recent, thresholds, minutes)
    reasons += _system_reasons(recent, evidence, thresholds, minutes)
    reasons += _grouping_reasons(
        recent, "access_switch_id", thresholds.class2_same_switch, "same_switch", minutes
    )
    reasons += _grouping_reasons(recent, "area_id", thresholds.class2_same_area, "same_area", minutes)

    if not reasons:
        reasons.append(Reason(3, "single_point", {}))
    level = min(reason.level for reason in reasons)
    return Classification(level=level, reasons=sorted(reasons, key=lambda r: r.level))


def _building_reasons(recent: list[ReportFact], thresholds: Thresholds, minutes: int) -> list[Reason]:
    buildings = {r.building_id for r in recent if r.building_id is not None}
    if len(buildings) >= thresholds.class1_buildings:
        return [Reason(1, "buildings", {"count": len(buildings), "minutes": minutes})]
    return []


def _system_reasons(
    recent: list[ReportFact], evidence: Evidence, thresholds: Thresholds, minutes: int
) -> list[Reason]:
    by_system: dict[int, set[int]] = defaultdict(set)
    for report in recent:
        if report.system_id is not None and report.department_id is not None:
            by_system[report.system_id].add(report.department_id)
    reasons = []
    for system_id, departments in by_system.items():
        label = evidence.system_labels.get(system_id, str(system_id))
        users = evidence.system_departments.get(system_id, set())
        needed = max(
            thresholds.class2_system_departments,
            math.ceil(len(users) * thresholds.class1_department_share / 100),
        )
        if users and len(departments) >= needed:
            reasons.append(
                Reason(
                    1,
                    "system_share",
                    {"count": len(departments), "total": len(users), "system": label, "minutes": minutes},
                )
            )
        elif len(departments) >= thresholds.class2_system_departments:
            reasons.append(
                Reason(
                    2, "system_departments", {"count": len(departments), "system": label, "minutes": minutes}
                )
            )
    return reasons


def _grouping_reasons(
    recent: list[ReportFact], key: str, threshold: int, code: str, minutes: int
) -> list[Reason]:
    groups: dict[int, set[int]] = defaultdict(set)
    for report in recent:
        group = getattr(report, key)
        if group is not None and report.workstation_id is not None:
            groups[group].add(report.workstation_id)
    largest = max((len(members) for members in groups.values()), default=0)
    if largest >= threshold:
        return [Reason(2, code, {"count": largest, "minutes": minutes})]
    return []
