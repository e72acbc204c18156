from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status

from hisguard.core.api_auth import API_AUTH, ReportTokenOrApiTokenAuth, WorkstationPrincipal, require
from hisguard.core.errors import DomainError, Forbidden, NotFound, interpolate
from hisguard.core.sql import JoinedQuery
from hisguard.organisation.models import Department, InformationSystem
from hisguard.reporting.actions import ReportInput, find_workstation, submit_report
from hisguard.reporting.models import Channel, FaultReport

router = Router(tags=["reports"])


class ReportIn(Schema):
    workstation: str | None = Field(None, description="hostname or id; required with a workstation's token")
    department: str | None = Field(None, description="department code, when the caller knows no hostname")
    symptom: str
    system: str | None = None
    text: str = ""
    contact_phone: str = ""
    reporter_name: str = ""


class IncidentRef(Schema):
    id: int
    number: str
    hospital_class: int
    class_label: str
    status: str


class ReportOut(Schema):
    tracking_number: str
    status_url: str
    created_at: str
    incident: IncidentRef | None


# Reports name their system by its code: the exact code is one statement built once (this
# runs for nearly every report); any case or the id go through the ORM.
_SYSTEM_BY_CODE = JoinedQuery(InformationSystem, (), "t0.hospital_id = %s AND t0.code = %s")


def find_system(hospital, value: str | None) -> InformationSystem | None:
    if not value:
        return None
    exact = _SYSTEM_BY_CODE.fetch([hospital.pk, value.strip()])
    if exact:
        return exact[0]
    query = InformationSystem.objects.filter(hospital=hospital)
    system = query.filter(code__iexact=value.strip()).first()
    if system is None and value.strip().isdigit():
        system = query.filter(pk=int(value)).first()
    if system is None:
        raise NotFound(
            interpolate(_("Unknown system: %(system)s."), {"system": value[:32]}), code="unknown_system"
        )
    return system


def find_department(code: str) -> Department:
    department = Department.objects.select_related("hospital").filter(code__iexact=code.strip()).first()
    if department is None:
        raise NotFound(
            interpolate(_("Unknown department: %(code)s."), {"code": code[:32]}), code="unknown_department"
        )
    return department


def report_out(report: FaultReport) -> dict:
    incident = report.incident
    return {
        "tracking_number": report.tracking_number,
        "status_url": settings.SITE_URL + reverse("report-status", args=[report.status_token]),
        "created_at": report.created_at.isoformat(),
        "incident": None
        if incident is None
        else {
            "id": incident.pk,
            "number": incident.number,
            "hospital_class": incident.hospital_class,
            "class_label": str(incident.get_hospital_class_display()),
            "status": incident.status,
        },
    }


@router.post("", response={201: ReportOut}, auth=ReportTokenOrApiTokenAuth(), summary="Report a fault")
def create_report(request: HttpRequest, payload: ReportIn):
    """Report a fault from a workstation. Authenticate with the workstation's own report token
    (the one in its report link) or with an API token allowed to take reports."""
    principal = request.auth  # type: ignore[attr-defined]
    if isinstance(principal, WorkstationPrincipal):
        named = (payload.workstation or "").strip()
        same = named in (principal.asset.hostname, str(principal.asset.pk))
        workstation = principal.asset if same else find_workstation(named)
        if principal.asset.pk != workstation.pk:
            raise Forbidden(_("This report token belongs to another workstation."))
        channel, received_by, department = Channel.WORKSTATION, None, None
    else:
        require(request, "reporting.add_faultreport")
        channel, received_by = Channel.API, principal
        workstation = find_workstation(payload.workstation) if payload.workstation else None
        department = find_department(payload.department) if payload.department else None
        if workstation is None and department is None:
            raise DomainError(_("Say which workstation or department is affected."), code="location_required")
    if not payload.symptom:
        raise DomainError(_("Choose what is wrong (the symptom)."), code="symptom_required")
    hospital = workstation.hospital if workstation else department.hospital  # type: ignore[union-attr]
    report = submit_report(
        ReportInput(
            symptom=payload.symptom,
            channel=channel,
            workstation=workstation,
            department=department,
            system=find_system(hospital, payload.system),
            text=payload.text,
            contact_phone=payload.contact_phone,
            reporter_name=payload.reporter_name,
            received_by=received_by,
        )
    )
    return Status(201, report_out(report))


@router.get("/{tracking_number}", response=ReportOut, auth=API_AUTH, summary="A report and its incident")
def get_report(request: HttpRequest, tracking_number: str):
    require(request, "reporting.view_faultreport")
    return report_out(
        get_object_or_404(FaultReport.objects.select_related("incident"), tracking_number=tracking_number)
    )
