"""Taking a fault report: validate, store, correlate, all before anyone is told "received"."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hisguard.core.errors import DomainError, NotFound, interpolate
from hisguard.core.sequences import next_in_sequence
from hisguard.incidents.actions import attach_report
from hisguard.organisation.lookup import find_reporter
from hisguard.organisation.models import (
    REPORTING_KINDS,
    Asset,
    Department,
    InformationSystem,
)
from hisguard.organisation.topology import area_parents, building_of
from hisguard.reporting.flood import check_flood
from hisguard.reporting.models import Channel, FaultReport, Symptom

PHONE_RE = re.compile(r"^\+?[0-9][0-9\- ]{2,19}$")


@dataclass
class ReportInput:
    symptom: str
    channel: str = Channel.WORKSTATION
    workstation: Asset | None = None
    department: Department | None = None
    system: InformationSystem | None = None
    text: str = ""
    contact_phone: str = ""
    reporter_name: str = ""
    received_by: Any = None


def find_workstation(identifier: str | int) -> Asset:
    """A workstation by hostname or numeric id."""
    value = str(identifier).strip()
    asset = find_reporter(value)
    if asset is None or asset.kind not in REPORTING_KINDS or not asset.is_active:
        raise NotFound(
            interpolate(_("Unknown workstation: %(ws)s."), {"ws": value[:64]}), code="unknown_workstation"
        )
    return asset


def validate(data: ReportInput) -> None:
    if data.symptom not in Symptom.values:
        raise DomainError(_("Choose what is wrong (the symptom)."), code="symptom_required")
    if data.workstation is None and data.department is None:
        raise DomainError(_("Say which workstation or department is affected."), code="location_required")
    if len(data.text) > settings.HISGUARD_REPORT_TEXT_MAX:
        raise DomainError(
            interpolate(
                _("The description is longer than %(max)s characters."),
                {"max": settings.HISGUARD_REPORT_TEXT_MAX},
            ),
            code="text_too_long",
        )
    if data.symptom == Symptom.OTHER and not data.text.strip():
        raise DomainError(_("Describe the problem when you choose 'Other'."), code="text_required")
    if data.contact_phone and not PHONE_RE.match(data.contact_phone):
        raise DomainError(_("The contact phone must be digits (3 to 20)."), code="bad_phone")
    if len(data.reporter_name) > 50:
        raise DomainError(_("The reporter's name is longer than 50 characters."), code="name_too_long")
    hospital = data.workstation.hospital if data.workstation else data.department.hospital  # type: ignore[union-attr]
    if data.system is not None and data.system.hospital_id != hospital.pk:
        raise DomainError(_("That system belongs to another hospital."), code="bad_system")


def submit_report(data: ReportInput) -> FaultReport:
    """Store the report and attach it to its incident; committed before the caller answers.

    Checks that only read (the input, the flood limit) run before the transaction, so the
    write lock that serialises correlation is held for the writes alone. The flood limit may
    therefore let a burst of simultaneous reports from one workstation one or two past it,
    which is harmless: it exists to stop a stuck key or a script, not to count exactly."""
    validate(data)
    now = timezone.now()
    check_flood(data.workstation, now)
    report = _unsaved_report(data, now)
    with transaction.atomic():
        day = timezone.localtime(now).date()
        report.tracking_number = f"{day:%y%m%d}{next_in_sequence('report', day):04d}"
        attach_report(report, now=now)  # stores the report and its audit entry
    return report


def _unsaved_report(data: ReportInput, now: datetime.datetime) -> FaultReport:
    ws = data.workstation
    department = data.department or (ws.department if ws else None)
    hospital = ws.hospital if ws else department.hospital  # type: ignore[union-attr]
    area_id = ws.area_id if ws else (department.area_id if department else None)
    access_switch = (
        ws.upstream if ws and ws.upstream and ws.upstream.kind == Asset.Kind.ACCESS_SWITCH else None
    )
    return FaultReport(
        hospital=hospital,
        channel=data.channel,
        workstation=ws,
        department=department,
        area_id=area_id,
        building_id=_building_id(ws, department, area_id, hospital),
        access_switch=access_switch,
        system=data.system,
        symptom=data.symptom,
        text=data.text.strip(),
        contact_phone=data.contact_phone.strip(),
        reporter_name=data.reporter_name.strip(),
        received_by=data.received_by if getattr(data.received_by, "is_authenticated", False) else None,
        created_at=now,
    )


def _building_id(
    ws: Asset | None, department: Department | None, area_id: int | None, hospital
) -> int | None:
    """The building the report comes from, from relations already loaded where possible."""
    area = ws.area if ws is not None else (department.area if department is not None else None)
    if area is None:
        return None
    if area.parent_id is None or (area.parent is not None and area.parent.parent_id is None):
        return area.parent_id or area.pk
    return building_of(area_id, area_parents(hospital))


def systems_offered(workstation: Asset) -> tuple[list[InformationSystem], list[InformationSystem]]:
    """The systems this workstation's department uses first, then the rest of the hospital's."""
    systems = list(
        InformationSystem.objects.filter(hospital=workstation.hospital).prefetch_related("departments")
    )
    mine = [s for s in systems if workstation.department_id in {d.pk for d in s.departments.all()}]
    others = [s for s in systems if s not in mine]
    return mine, others
