from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from hisguard.core.api_auth import API_AUTH, require
from hisguard.organisation.models import Asset, InformationSystem

router = Router(tags=["hospital model"], auth=API_AUTH)


class AssetOut(Schema):
    id: int
    hostname: str
    name: str
    kind: str
    kind_label: str
    area: str | None
    area_id: int | None
    building: str | None
    department: str | None
    department_id: int | None
    upstream: str | None
    upstream_id: int | None
    depends_on: list[str]
    ip_address: str | None
    is_active: bool

    @staticmethod
    def resolve_kind_label(obj: Asset) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_area(obj: Asset) -> str | None:
        return str(obj.area) if obj.area else None

    @staticmethod
    def resolve_building(obj: Asset) -> str | None:
        return obj.area.building.name if obj.area else None

    @staticmethod
    def resolve_department(obj: Asset) -> str | None:
        return obj.department.code if obj.department else None

    @staticmethod
    def resolve_upstream(obj: Asset) -> str | None:
        return obj.upstream.hostname if obj.upstream else None

    @staticmethod
    def resolve_depends_on(obj: Asset) -> list[str]:
        return [d.hostname for d in obj.depends_on.all()]


class AssetFilter(Schema):
    kind: str | None = None
    department: str | None = Field(None, description="department code")
    upstream: str | None = Field(None, description="hostname of the upstream asset")


class SystemOut(Schema):
    id: int
    code: str
    name: str
    criticality: str
    dr_level: int
    rto_minutes: int
    rpo_minutes: int
    depends_on: list[str]
    departments: list[str]


@router.get("/assets", response=list[AssetOut], summary="Assets with their place in the topology")
@paginate(LimitOffsetPagination)
def list_assets(request: HttpRequest, filters: Query[AssetFilter]):
    require(request, "organisation.view_asset")
    query = Asset.objects.select_related("area__parent__parent", "department", "upstream").prefetch_related(
        "depends_on"
    )
    if filters.kind:
        query = query.filter(kind=filters.kind)
    if filters.department:
        query = query.filter(department__code=filters.department)
    if filters.upstream:
        query = query.filter(upstream__hostname=filters.upstream)
    return query.order_by("hostname")


@router.get("/assets/{int:asset_id}", response=AssetOut, summary="One asset")
def get_asset(request: HttpRequest, asset_id: int):
    require(request, "organisation.view_asset")
    return get_object_or_404(
        Asset.objects.select_related("area__parent", "department", "upstream"), pk=asset_id
    )


@router.get("/systems", response=list[SystemOut], summary="Information systems")
def list_systems(request: HttpRequest):
    require(request, "organisation.view_informationsystem")
    systems = InformationSystem.objects.prefetch_related("depends_on", "departments").order_by("code")
    return [
        {
            "id": s.pk,
            "code": s.code,
            "name": s.name,
            "criticality": s.criticality,
            "dr_level": s.dr_level,
            "rto_minutes": s.rto_minutes,
            "rpo_minutes": s.rpo_minutes,
            "depends_on": [a.hostname for a in s.depends_on.all()],
            "departments": [d.code for d in s.departments.all()],
        }
        for s in systems
    ]
