import datetime

from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from hisguard.core.api_auth import API_AUTH, require
from hisguard.core.errors import DomainError, NotFound, interpolate
from hisguard.incidents import actions
from hisguard.incidents.classification import describe
from hisguard.incidents.models import OPEN_STATUSES, Incident, IncidentAsset
from hisguard.incidents.timeline import headline
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset

router = Router(tags=["incidents"], auth=API_AUTH)


class IncidentSummary(Schema):
    id: int
    number: str
    title: str
    hospital_class: int
    class_label: str
    status: str
    status_label: str
    is_drill: bool
    gbt_category: str
    gbt_grade: int
    opened_at: datetime.datetime
    last_evidence_at: datetime.datetime
    resolved_at: datetime.datetime | None
    report_count: int

    @staticmethod
    def resolve_class_label(obj) -> str:
        return obj["class_label"] if isinstance(obj, dict) else str(obj.get_hospital_class_display())

    @staticmethod
    def resolve_status_label(obj) -> str:
        return obj["status_label"] if isinstance(obj, dict) else str(obj.get_status_display())


class Named(Schema):
    id: int
    code: str
    name: str


class TimelineOut(Schema):
    at: datetime.datetime
    kind: str
    actor: str
    headline: str
    text: str
    public: bool


class IncidentDetail(IncidentSummary):
    class_basis: list[str]
    system_importance: str
    loss: str
    owner: str
    systems: list[Named]
    areas: list[Named]
    departments: list[Named]
    down_assets: list[str]
    reports: list[str]
    timeline: list[TimelineOut]


class IncidentFilter(Schema):
    status: str | None = Field(None, description="reported, confirmed, …, or 'open'")
    hospital_class: int | None = Field(None, alias="class", description="1, 2 or 3")


def summary(incident: Incident) -> dict:
    return {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "hospital_class": incident.hospital_class,
        "class_label": str(incident.get_hospital_class_display()),
        "status": incident.status,
        "status_label": str(incident.get_status_display()),
        "is_drill": incident.is_drill,
        "gbt_category": incident.gbt_category,
        "gbt_grade": incident.gbt_grade,
        "opened_at": incident.opened_at,
        "last_evidence_at": incident.last_evidence_at,
        "resolved_at": incident.resolved_at,
        "report_count": getattr(incident, "report_count", None) or incident.reports.count(),
    }


def detail(incident: Incident) -> dict:
    def named(rows) -> list[dict]:
        return [{"id": r.pk, "code": r.code, "name": r.name} for r in rows]

    return {
        **summary(incident),
        "class_basis": [describe(r) for r in incident.class_reasons],
        "system_importance": incident.system_importance,
        "loss": incident.loss,
        "owner": incident.owner_role_label,
        "systems": named(incident.systems.all()),
        "areas": named(incident.areas.all()),
        "departments": named(incident.departments.all()),
        "down_assets": [
            link.asset.hostname
            for link in IncidentAsset.objects.filter(incident=incident, is_down=True).select_related("asset")
        ],
        "reports": list(incident.reports.values_list("tracking_number", flat=True)),
        "timeline": [
            {
                "at": e.at,
                "kind": e.kind,
                "actor": e.actor_label,
                "headline": headline(e),
                "text": e.text,
                "public": e.public,
            }
            for e in incident.timeline.all()
        ],
    }


def _incident(pk: int) -> Incident:
    return get_object_or_404(Incident, pk=pk)


@router.get("", response=list[IncidentSummary], summary="List incidents")
@paginate(LimitOffsetPagination)
def list_incidents(request: HttpRequest, filters: Query[IncidentFilter]):
    require(request, "incidents.view_incident")
    query = Incident.objects.all()
    if filters.status == "open":
        query = query.filter(status__in=OPEN_STATUSES)
    elif filters.status:
        query = query.filter(status=filters.status)
    if filters.hospital_class:
        query = query.filter(hospital_class=filters.hospital_class)
    return query.annotate(report_count=Count("reports")).order_by("hospital_class", "-opened_at")


@router.get("/{int:incident_id}", response=IncidentDetail, summary="One incident with its timeline")
def get_incident(request: HttpRequest, incident_id: int):
    require(request, "incidents.view_incident")
    return detail(_incident(incident_id))


class StatusIn(Schema):
    status: str
    message: str = ""


class ClassIn(Schema):
    hospital_class: int = Field(..., alias="class")
    reason: str


class AssessmentIn(Schema):
    category: str
    loss: str
    reason: str = ""


class NoteIn(Schema):
    text: str
    public: bool = False


class MaintenanceIn(Schema):
    asset: str
    fault: str
    action: str
    result: str = ""


class AssetDownIn(Schema):
    asset: str
    note: str = ""


def _asset(identifier: str) -> Asset:
    value = identifier.strip()
    asset = find_asset(value)
    if asset is None:
        raise NotFound(interpolate(_("Unknown asset: %(asset)s."), {"asset": value[:64]}))
    return asset


@router.post("/{int:incident_id}/status", response=IncidentDetail, summary="Move through the lifecycle")
def set_status(request: HttpRequest, incident_id: int, payload: StatusIn):
    user = require(request, "incidents.triage_incident")
    return detail(
        actions.change_status(_incident(incident_id), payload.status, user=user, message=payload.message)
    )


@router.post("/{int:incident_id}/class", response=IncidentDetail, summary="Set the class with a reason")
def set_class(request: HttpRequest, incident_id: int, payload: ClassIn):
    user = require(request, "incidents.classify_incident")
    return detail(
        actions.set_class(_incident(incident_id), payload.hospital_class, reason=payload.reason, user=user)
    )


@router.post("/{int:incident_id}/assessment", response=IncidentDetail, summary="GB/T 20986 category and loss")
def set_assessment(request: HttpRequest, incident_id: int, payload: AssessmentIn):
    require(request, "incidents.classify_incident")
    return detail(
        actions.set_assessment(
            _incident(incident_id), category=payload.category, loss=payload.loss, reason=payload.reason
        )
    )


@router.post(
    "/{int:incident_id}/notes", response={201: TimelineOut}, summary="A note, or feedback to reporters"
)
def add_note(request: HttpRequest, incident_id: int, payload: NoteIn):
    require(request, "incidents.triage_incident")
    entry = actions.add_note(_incident(incident_id), payload.text, public=payload.public)
    return Status(
        201,
        {
            "at": entry.at,
            "kind": entry.kind,
            "actor": entry.actor_label,
            "headline": headline(entry),
            "text": entry.text,
            "public": entry.public,
        },
    )


@router.post("/{int:incident_id}/maintenance", response={201: dict}, summary="Log maintenance (维护登记)")
def add_maintenance(request: HttpRequest, incident_id: int, payload: MaintenanceIn):
    user = require(request, "incidents.add_maintenancelog")
    entry = actions.record_maintenance(
        _incident(incident_id),
        _asset(payload.asset),
        user=user,
        fault=payload.fault,
        action=payload.action,
        result=payload.result,
    )
    return Status(
        201, {"id": entry.pk, "asset": entry.asset.hostname, "performed_at": entry.performed_at.isoformat()}
    )


@router.post("/asset-down", response={201: IncidentDetail}, summary="Mark an asset down")
def asset_down(request: HttpRequest, payload: AssetDownIn):
    require(request, "incidents.mark_asset_down")
    asset = _asset(payload.asset)
    if asset.kind in ("workstation", "terminal"):
        raise DomainError(_("Workstations are reported, not marked down; use a fault report."))
    return Status(201, detail(actions.mark_asset_down(asset, note=payload.note)))
